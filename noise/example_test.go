package noise_test

import (
	"bytes"
	"crypto/ed25519"
	"fmt"

	"github.com/warrenp2p/warren/noise"
)

// An XX handshake between two parties in one process. Over a network each
// message would be framed and sent to the other side.
func Example() {
	_, aliceKey, _ := ed25519.GenerateKey(nil)
	_, bobKey, _ := ed25519.GenerateKey(nil)
	alice, _ := noise.New(noise.Config{Initiator: true, StaticKey: aliceKey})
	bob, _ := noise.New(noise.Config{StaticKey: bobKey})

	msg1, _ := alice.WriteMessage(nil)
	bob.ReadMessage(msg1)
	msg2, _ := bob.WriteMessage([]byte("hi alice"))
	greeting, _ := alice.ReadMessage(msg2)
	msg3, _ := alice.WriteMessage([]byte("hi bob"))
	bob.ReadMessage(msg3)

	a, _ := alice.Result()
	b, _ := bob.Result()
	fmt.Println(string(greeting))
	fmt.Println(a.Hash == b.Hash, a.Tx == b.Rx, bytes.Equal(a.RemoteStatic, bobKey.Public().(ed25519.PublicKey)))
	// Output:
	// hi alice
	// true true true
}
