//go:build !linux

package hypercore

// skipBytesOrAll drops the first n bytes of bs (the Linux writer's helper).
func skipBytesOrAll(bs [][]byte, n int) [][]byte {
	var all []byte
	for _, b := range bs {
		all = append(all, b...)
	}
	return [][]byte{all[n:]}
}
