//go:build linux

package hypercore

func skipBytesOrAll(bs [][]byte, n int) [][]byte { return skipBytes(bs, n) }
