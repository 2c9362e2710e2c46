package hyperbee_test

import (
	"context"
	"fmt"

	"github.com/warrenp2p/warren/hyperbee"
)

func Example() {
	ctx := context.Background()
	// On a real core: hyperbee.New(hyperbee.CoreLog{Core: core}, ...).
	db := hyperbee.New(&hyperbee.MemLog{}, hyperbee.Options{})

	db.Put(ctx, []byte("fruit/apple"), []byte("red"))
	db.Put(ctx, []byte("fruit/banana"), []byte("yellow"))
	db.Put(ctx, []byte("veg/leek"), []byte("green"))
	v1 := db.Version()

	b := db.Batch()
	b.Put(ctx, []byte("fruit/cherry"), []byte("red"))
	b.Del(ctx, []byte("fruit/apple"))
	b.Flush(ctx)

	for e, err := range db.Range(ctx, hyperbee.Range{GTE: []byte("fruit/"), LT: []byte("fruit0")}) {
		if err != nil {
			panic(err)
		}
		fmt.Printf("%s=%s\n", e.Key, e.Value)
	}
	for d, err := range db.Diff(ctx, db.Checkout(v1), hyperbee.Range{}) {
		if err != nil {
			panic(err)
		}
		fmt.Printf("changed: now %v, was %v\n", d.Left != nil, d.Right != nil)
	}
	// Output:
	// fruit/banana=yellow
	// fruit/cherry=red
	// changed: now false, was true
	// changed: now true, was false
}
