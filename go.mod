module github.com/warrenp2p/warren

go 1.26.0

// The JS reference peers live under interop/node_modules; they are not Go.
ignore ./interop/node_modules

require github.com/spf13/cobra v1.10.2

require (
	filippo.io/edwards25519 v1.2.0 // indirect
	github.com/inconshreveable/mousetrap v1.1.0 // indirect
	github.com/spf13/pflag v1.0.9 // indirect
	golang.org/x/crypto v0.58.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
)
