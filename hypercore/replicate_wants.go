package hypercore

// Our wants: when a remote's announcements do not cover a block we need,
// we ask it (a want message) which blocks it holds in the batch of
// wantBatch blocks around it; it answers with its bitfield and, as long
// as the want stands, tells us of blocks it gets later in that batch.
//
// As hypercore does, a peer keeps at most maxLocalWants batches wanted of
// its remote. A batch stays wanted while it is needed; one that is no
// longer needed keeps its slot (the remote goes on telling us about it)
// until a new batch needs the slot: then it is withdrawn with an unwant
// and the new one announced. Wants belong to one remote: a new peer, or
// the same remote connected again, is asked afresh as soon as the update
// finds blocks it may have.

// maxLocalWants bounds the batches wanted of one remote (hypercore's
// limit). A variable for tests only.
var maxLocalWants = 512

// maybeWant asks the remote, once per batch, which blocks it holds around
// block i: its contiguous announcement does not cover i.
func (p *Peer) maybeWant(i uint64) {
	if i < p.remoteContig || i >= p.remoteLength {
		return
	}
	b := i / wantBatch
	if _, ok := p.sentWants[b]; ok {
		p.sentWants[b] = p.wantPass
		return
	}
	if len(p.sentWants) >= maxLocalWants && !p.freeWant() {
		return // every slot is needed right now
	}
	p.sentWants[b] = p.wantPass
	p.mWant.Send(encodeWant(Want{Start: b * wantBatch, Length: wantBatch}))
}

// freeWant withdraws one wanted batch that is no longer needed: one the
// remote's or our contiguous part now covers, or one no update pass but an
// earlier one asked about. It reports whether a slot was freed.
func (p *Peer) freeWant() bool {
	contig := max(p.remoteContig, p.c.ContiguousLength())
	for b, pass := range p.sentWants {
		if (b+1)*wantBatch <= contig || pass < p.wantPass {
			delete(p.sentWants, b)
			p.mUnwant.Send(encodeWant(Want{Start: b * wantBatch, Length: wantBatch}))
			return true
		}
	}
	return false
}
