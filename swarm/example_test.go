package swarm_test

import (
	"context"
	"io"
	"log"
	"time"

	"github.com/warrenp2p/warren/crypto"
	"github.com/warrenp2p/warren/swarm"
)

// Join a topic as both server and client and echo on every connection.
func Example() {
	s, err := swarm.New(&swarm.Config{Bootstrap: []string{"node1.example:49737"}})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	topic := crypto.Hash([]byte("my app topic"))
	if _, err := s.Join(topic, nil); err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := s.Flush(ctx); err != nil {
		log.Fatal(err)
	}
	for {
		c, err := s.Accept(context.Background())
		if err != nil {
			return
		}
		log.Printf("connected to %x (topics %x)", c.Info.PublicKey, c.Info.Topics())
		go func() {
			defer c.Close()
			_, _ = io.Copy(c, c)
		}()
	}
}
