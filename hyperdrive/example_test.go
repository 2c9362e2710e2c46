package hyperdrive_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/warrenp2p/warren/corestore"
	"github.com/warrenp2p/warren/hyperdrive"
)

// A writable drive: write files, read them back, list, and mirror the
// drive into a local folder.
func Example() {
	ctx := context.Background()
	tmp, _ := os.MkdirTemp("", "drive-example")
	defer os.RemoveAll(tmp)

	store, err := corestore.Open(filepath.Join(tmp, "store"), nil)
	if err != nil {
		panic(err)
	}
	defer store.Close()
	drive, err := hyperdrive.Open(ctx, store, nil, nil) // nil key: this store's own drive
	if err != nil {
		panic(err)
	}
	defer drive.Close()

	drive.Put(ctx, "/hello.txt", []byte("hello"), nil)
	drive.Put(ctx, "/bin/run.sh", []byte("#!/bin/sh\n"), &hyperdrive.PutOptions{Executable: true})
	drive.Symlink(ctx, "/latest", "/hello.txt", nil)

	data, _ := drive.Get(ctx, "/hello.txt")
	fmt.Println(string(data))
	for e, err := range drive.List(ctx, "/", true) {
		if err != nil {
			panic(err)
		}
		fmt.Printf("%s exec=%v link=%q\n", e.Key, e.Executable, e.Linkname)
	}

	local, _ := hyperdrive.NewLocalDir(filepath.Join(tmp, "out"))
	count, err := hyperdrive.Mirror(ctx, drive, local, nil)
	fmt.Println(count.Add, err)
	// Output:
	// hello
	// /bin/run.sh exec=true link=""
	// /hello.txt exec=false link=""
	// /latest exec=false link="/hello.txt"
	// 3 <nil>
}
