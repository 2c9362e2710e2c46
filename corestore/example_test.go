package corestore_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/warrenp2p/warren/corestore"
)

// A store derives every named core from its primary key: the same primary
// key, namespace and name give the same core in Go and in JS corestore.
func Example() {
	dir, err := os.MkdirTemp("", "corestore-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	store, err := corestore.Open(dir, &corestore.Options{PrimaryKey: make([]byte, 32)})
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	core, err := store.Namespace("app").Get(context.Background(), corestore.GetOptions{Name: "log"})
	if err != nil {
		log.Fatal(err)
	}
	defer core.Close()
	if _, err := core.Append([]byte("hello")); err != nil {
		log.Fatal(err)
	}
	fmt.Println(core.Length(), core.Writable())
	// To replicate every core over a connection:
	//   rep, err := store.Replicate(ctx, secretstream.Client(conn, nil))
	// Output: 1 true
}
