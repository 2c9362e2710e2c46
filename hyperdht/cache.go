package hyperdht

import (
	"container/list"
	"sync"
	"time"
)

// cache is a map bounded in size and entry age: the oldest entry goes
// when it is full, and entries older than maxAge are not returned.
type cache[K comparable, V any] struct {
	mu      sync.Mutex
	maxSize int
	maxAge  time.Duration
	order   *list.List // of *cacheEntry, oldest first
	items   map[K]*list.Element
}

type cacheEntry[K comparable, V any] struct {
	key   K
	value V
	at    time.Time
}

func newCache[K comparable, V any](maxSize int, maxAge time.Duration) *cache[K, V] {
	if maxSize < 1 {
		maxSize = 1
	}
	return &cache[K, V]{maxSize: maxSize, maxAge: maxAge, order: list.New(), items: map[K]*list.Element{}}
}

func (c *cache[K, V]) set(k K, v V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[k]; ok {
		c.order.Remove(e)
	}
	c.items[k] = c.order.PushBack(&cacheEntry[K, V]{key: k, value: v, at: time.Now()})
	for c.order.Len() > c.maxSize {
		c.removeLocked(c.order.Front())
	}
}

func (c *cache[K, V]) removeLocked(e *list.Element) {
	c.order.Remove(e)
	delete(c.items, e.Value.(*cacheEntry[K, V]).key)
}

func (c *cache[K, V]) get(k K) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var zero V
	e, ok := c.items[k]
	if !ok {
		return zero, false
	}
	ce := e.Value.(*cacheEntry[K, V])
	if c.maxAge > 0 && time.Since(ce.at) > c.maxAge {
		c.removeLocked(e)
		return zero, false
	}
	return ce.value, true
}

func (c *cache[K, V]) delete(k K) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[k]; ok {
		c.removeLocked(e)
	}
}

func (c *cache[K, V]) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}

// recordKey names one announce record: a topic and the announcer's key.
type recordKey struct {
	topic     [32]byte
	publicKey [32]byte
}

// records holds the announce records of topics, at most maxSize in all.
type records struct {
	mu     sync.Mutex
	all    *cache[recordKey, []byte]
	topics map[[32]byte]map[[32]byte]struct{}
}

func newRecords(maxSize int, maxAge time.Duration) *records {
	return &records{all: newCache[recordKey, []byte](maxSize, maxAge), topics: map[[32]byte]map[[32]byte]struct{}{}}
}

func (r *records) add(topic, pk [32]byte, record []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.all.set(recordKey{topic, pk}, record)
	s := r.topics[topic]
	if s == nil {
		s = map[[32]byte]struct{}{}
		r.topics[topic] = s
	}
	s[pk] = struct{}{}
	r.pruneLocked(topic)
}

// pruneLocked drops index entries whose record the cache evicted; it looks at
// a bounded number of topics so a flood cannot grow the index without bound.
func (r *records) pruneLocked(except [32]byte) {
	if len(r.topics) <= 2*r.all.maxSize {
		return
	}
	for t, s := range r.topics {
		for pk := range s {
			if _, ok := r.all.get(recordKey{t, pk}); !ok {
				delete(s, pk)
			}
		}
		if len(s) == 0 && t != except {
			delete(r.topics, t)
		}
	}
}

func (r *records) remove(topic, pk [32]byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.all.delete(recordKey{topic, pk})
	if s := r.topics[topic]; s != nil {
		delete(s, pk)
		if len(s) == 0 {
			delete(r.topics, topic)
		}
	}
}

// get returns up to n records of topic.
func (r *records) get(topic [32]byte, n int) [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out [][]byte
	s := r.topics[topic]
	for pk := range s {
		v, ok := r.all.get(recordKey{topic, pk})
		if !ok {
			delete(s, pk)
			continue
		}
		if len(out) < n {
			out = append(out, v)
		}
	}
	if len(s) == 0 {
		delete(r.topics, topic)
	}
	return out
}
