package swarm

import "math/rand/v2"

// peerQueue holds peers waiting to be dialled: the highest priority first,
// in random order within a priority (shuffled-priority-queue).
type peerQueue struct {
	buckets [PriorityVeryHigh + 1][]*PeerInfo
	n       int
}

func (q *peerQueue) len() int { return q.n }

func (q *peerQueue) add(p *PeerInfo) {
	b := &q.buckets[p.priority]
	p.qindex = len(*b)
	*b = append(*b, p)
	q.n++
}

// shift removes and returns a random peer of the highest priority.
func (q *peerQueue) shift() *PeerInfo {
	for i := len(q.buckets) - 1; i >= 0; i-- {
		b := q.buckets[i]
		if len(b) == 0 {
			continue
		}
		j := rand.IntN(len(b))
		p := b[j]
		last := len(b) - 1
		b[j] = b[last]
		b[j].qindex = j
		b[last] = nil
		q.buckets[i] = b[:last]
		p.qindex = -1
		q.n--
		return p
	}
	return nil
}

// clear empties the queue, marking every peer as not queued.
func (q *peerQueue) clear() {
	for i := range q.buckets {
		for _, p := range q.buckets[i] {
			p.queued = false
			p.qindex = -1
		}
		q.buckets[i] = nil
	}
	q.n = 0
}
