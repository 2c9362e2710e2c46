package compact

import "testing"

var (
	sinkBytes []byte
	sinkUint  uint64
)

func BenchmarkUintEncode(b *testing.B) {
	b.Run("Encode", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			sinkBytes = Encode(Uint, uint64(i)<<20)
		}
	})
	b.Run("State", func(b *testing.B) {
		b.ReportAllocs()
		s := &State{Buf: make([]byte, 9)}
		for i := 0; b.Loop(); i++ {
			s.Start = 0
			Uint.Encode(s, uint64(i)<<20)
		}
	})
}

func BenchmarkUintDecode(b *testing.B) {
	in := Encode(Uint, 1<<40)
	b.Run("Decode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sinkUint, _ = Decode(Uint, in)
		}
	})
	b.Run("State", func(b *testing.B) {
		b.ReportAllocs()
		s := &State{Buf: in, End: len(in)}
		for b.Loop() {
			s.Start = 0
			sinkUint, _ = Uint.Decode(s)
		}
	})
}

func BenchmarkBufferEncode(b *testing.B) {
	for _, n := range []int{32, 1024} {
		v := seq(n)
		b.Run(sizeName(n), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(n))
			for b.Loop() {
				sinkBytes = Encode(Buffer, v)
			}
		})
	}
}

func BenchmarkBufferDecode(b *testing.B) {
	for _, n := range []int{32, 1024} {
		in := Encode(Buffer, seq(n))
		b.Run(sizeName(n), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(n))
			for b.Loop() {
				sinkBytes, _ = Decode(Buffer, in)
			}
		})
	}
}

func sizeName(n int) string {
	if n >= 1024 {
		return string(rune('0'+n/1024)) + "KiB"
	}
	return string(rune('0'+n/10)) + string(rune('0'+n%10)) + "B"
}
