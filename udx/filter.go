package udx

// winFilter tracks the running minimum or maximum of a series over a
// window (of time or of round trips) with three samples, the scheme the
// Linux kernel and libudx use for min RTT and max bandwidth.
type winFilter struct {
	t [3]int64
	v [3]float64
}

func (f *winFilter) reset(t int64, v float64) {
	f.t = [3]int64{t, t, t}
	f.v = [3]float64{v, v, v}
}

func (f *winFilter) get() float64 { return f.v[0] }

// age keeps the three samples spread across the window and expires the
// best one when it falls out of it.
func (f *winFilter) age(win, t int64, v float64) {
	dt := t - f.t[0]
	switch {
	case dt > win:
		f.t[0], f.v[0] = f.t[1], f.v[1]
		f.t[1], f.v[1] = f.t[2], f.v[2]
		f.t[2], f.v[2] = t, v
		if t-f.t[0] > win {
			f.t[0], f.v[0] = f.t[1], f.v[1]
			f.t[1], f.v[1] = f.t[2], f.v[2]
			f.t[2], f.v[2] = t, v
		}
	case f.t[1] == f.t[0] && dt > win/4:
		f.t[1], f.v[1] = t, v
		f.t[2], f.v[2] = t, v
	case f.t[2] == f.t[1] && dt > win/2:
		f.t[2], f.v[2] = t, v
	}
}

func (f *winFilter) applyMax(win, t int64, v float64) float64 {
	switch {
	case v >= f.v[0] || t-f.t[2] > win:
		f.reset(t, v)
		return v
	case v >= f.v[1]:
		f.t[1], f.v[1] = t, v
		f.t[2], f.v[2] = t, v
	case v >= f.v[2]:
		f.t[2], f.v[2] = t, v
	}
	f.age(win, t, v)
	return f.v[0]
}

func (f *winFilter) applyMin(win, t int64, v float64) float64 {
	switch {
	case v <= f.v[0] || t-f.t[2] > win:
		f.reset(t, v)
		return v
	case v <= f.v[1]:
		f.t[1], f.v[1] = t, v
		f.t[2], f.v[2] = t, v
	case v <= f.v[2]:
		f.t[2], f.v[2] = t, v
	}
	f.age(win, t, v)
	return f.v[0]
}

// pktList is an intrusive doubly linked list of packets in send order
// (the inflight and retransmit queues).
type pktList struct {
	head, tail *outPacket
	n          int
}

func (l *pktList) pushBack(p *outPacket) {
	p.list = l
	p.prev, p.next = l.tail, nil
	if l.tail != nil {
		l.tail.next = p
	} else {
		l.head = p
	}
	l.tail = p
	l.n++
}

func (l *pktList) remove(p *outPacket) {
	if p.list != l {
		return
	}
	if p.prev != nil {
		p.prev.next = p.next
	} else {
		l.head = p.next
	}
	if p.next != nil {
		p.next.prev = p.prev
	} else {
		l.tail = p.prev
	}
	p.prev, p.next, p.list = nil, nil, nil
	l.n--
}

func (l *pktList) clear() {
	for p := l.head; p != nil; {
		n := p.next
		p.prev, p.next, p.list = nil, nil, nil
		p = n
	}
	*l = pktList{}
}

// seqDiff is a-b in sequence space (wrapping).
func seqDiff(a, b uint32) int32 { return int32(a - b) }

func seqLess(a, b uint32) bool { return seqDiff(a, b) < 0 }
