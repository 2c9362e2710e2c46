package main

import (
	"encoding/hex"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/warrenp2p/warren/keyid"
)

func newKeysCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "keys",
		Short: "Show the identity key pair, creating it on first use",
		Long: "Show the public key of the identity key pair kept in the storage directory\n" +
			"(" + identityFile + ", mode 0600), creating the key pair if there is none.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			kp, created, err := g.identity(true)
			if err != nil {
				return err
			}
			if created {
				dir, _ := g.storageDir()
				fmt.Fprintf(cmd.ErrOrStderr(), "created a new identity key pair in %s\n", dir)
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "public-key %s\n", keyid.ZBase32Encode(kp.PublicKey))
			fmt.Fprintf(out, "public-key-hex %s\n", hex.EncodeToString(kp.PublicKey))
			return nil
		},
	}
}
