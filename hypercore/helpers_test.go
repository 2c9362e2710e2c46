package hypercore

import (
	"os"

	"github.com/warrenp2p/warren/compact"
)

func osMkdirTemp() (string, error) { return os.MkdirTemp("", "hypercore-example") }

func encodeData(d *Data) []byte { return compact.Encode[*Data](DataCodec, d) }

func decodeData(b []byte) (*Data, error) { return compact.DecodeExact[*Data](DataCodec, b) }
