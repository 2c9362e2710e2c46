package dht

import "net/netip"

// natSampler guesses our public address from the addresses remote nodes
// report, as npm nat-sampler: it keeps the last 16 samples of host:port and
// of host alone, and settles on the most frequent one once enough agree.
// Port 0 with a valid host means the host is stable but the port is not.
type natSampler struct {
	host netip.Addr
	port uint16
	size int

	a, b      *natSample
	threshold int
	top       int
	samples   [32]*natSample // the first n are used
	n         int
}

type natSample struct {
	host netip.Addr
	port uint16
	hits int
}

func (s *natSampler) add(host netip.Addr, port uint16) int {
	a := s.bump(host, port, 2)
	b := s.bump(host, 0, 1)
	if s.n < 32 {
		s.size++
		switch {
		case s.size < 4:
			s.threshold = s.size
		case s.size < 8:
			s.threshold = s.size - 1
		case s.size < 12:
			s.threshold = s.size - 2
		default:
			s.threshold = s.size - 3
		}
		s.samples[s.n], s.samples[s.n+1] = a, b
		s.n += 2
		s.top += 2
	} else {
		if s.top == 32 {
			s.top = 0
		}
		oa := s.samples[s.top]
		s.samples[s.top] = a
		s.top++
		oa.hits--
		ob := s.samples[s.top]
		s.samples[s.top] = b
		s.top++
		ob.hits--
	}
	if s.a == nil || s.a.hits < a.hits {
		s.a = a
	}
	if s.b == nil || s.b.hits < b.hits {
		s.b = b
	}
	switch {
	case s.a.hits >= s.threshold:
		s.host, s.port = s.a.host, s.a.port
	case s.b.hits >= s.threshold:
		s.host, s.port = s.b.host, 0
	default:
		s.host, s.port = netip.Addr{}, 0
	}
	return a.hits
}

func (s *natSampler) bump(host netip.Addr, port uint16, inc int) *natSample {
	for i := 0; i < 4; i++ {
		j := (s.top - inc - 2*i) & 31
		if j >= s.n {
			break
		}
		if x := s.samples[j]; x.port == port && x.host == host {
			x.hits++
			return x
		}
	}
	return &natSample{host: host, port: port, hits: 1}
}
