package tunnel

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/warrenp2p/warren/crypto"
	"github.com/warrenp2p/warren/hyperdht"
)

// Record is the mutable DHT record a holesail server keeps under its public
// key so that clients learn what it serves: JSON such as
// {"host":"127.0.0.1","port":8080}, with "udp":true for a UDP service.
type Record struct {
	Host string
	Port int
	UDP  bool
}

// ErrRecordInvalid means a record's value is not holesail's JSON.
var ErrRecordInvalid = errors.New("tunnel: invalid host record")

// maxRecordSize bounds a record value (the DHT caps mutable values at 1000
// bytes anyway).
const maxRecordSize = 1000

// Encode returns the record's JSON in holesail's field order (host, udp,
// port), leaving udp out when false as holesail's CLI does for TCP.
func (r Record) Encode() []byte {
	var b bytes.Buffer
	b.WriteString(`{"host":`)
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // as JSON.stringify
	_ = enc.Encode(r.Host)
	b.Truncate(b.Len() - 1) // the encoder's newline
	if r.UDP {
		b.WriteString(`,"udp":true`)
	}
	b.WriteString(`,"port":`)
	b.WriteString(strconv.Itoa(r.Port))
	b.WriteString(`}`)
	return b.Bytes()
}

// DecodeRecord reads a record value. Missing fields are left zero; the port
// may be a number or a numeric string (holesail-server stores what its
// caller passed).
func DecodeRecord(b []byte) (Record, error) {
	if len(b) > maxRecordSize {
		return Record{}, ErrRecordInvalid
	}
	var raw struct {
		Host json.RawMessage `json:"host"`
		Port json.RawMessage `json:"port"`
		UDP  json.RawMessage `json:"udp"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return Record{}, fmt.Errorf("%w: %v", ErrRecordInvalid, err)
	}
	var r Record
	if len(raw.Host) > 0 && string(raw.Host) != "null" {
		if err := json.Unmarshal(raw.Host, &r.Host); err != nil {
			return Record{}, fmt.Errorf("%w: host: %v", ErrRecordInvalid, err)
		}
	}
	if len(raw.Port) > 0 && string(raw.Port) != "null" {
		var n json.Number
		var s string
		if err := json.Unmarshal(raw.Port, &s); err == nil {
			n = json.Number(s)
		} else if err := json.Unmarshal(raw.Port, &n); err != nil {
			return Record{}, fmt.Errorf("%w: port: %v", ErrRecordInvalid, err)
		}
		p, err := strconv.Atoi(string(n))
		if err != nil || p < 0 || p > 65535 {
			return Record{}, fmt.Errorf("%w: port %s", ErrRecordInvalid, raw.Port)
		}
		r.Port = p
	}
	if len(raw.UDP) > 0 && string(raw.UDP) != "null" {
		// JS truthiness is what holesail-client tests; accept the
		// booleans and ignore anything else.
		_ = json.Unmarshal(raw.UDP, &r.UDP)
	}
	return r, nil
}

// PutRecord stores value under kp as holesail-server does: it reads the
// latest record first and keeps its seq if the value is unchanged, or puts
// with seq+1 if it changed (seq 0 if there was none). It returns the seq
// used.
func PutRecord(ctx context.Context, d *hyperdht.DHT, kp crypto.KeyPair, value []byte) (uint64, error) {
	var seq uint64
	old, err := d.MutableGet(ctx, kp.PublicKey, 0)
	switch {
	case err == nil:
		seq = old.Seq
		if !bytes.Equal(old.Value, value) {
			seq++
		}
	case errors.Is(err, hyperdht.ErrNotFound):
	default:
		return 0, err
	}
	if err := d.MutablePut(ctx, kp, value, seq); err != nil {
		return 0, err
	}
	return seq, nil
}

// GetRecord fetches and decodes the record under publicKey.
func GetRecord(ctx context.Context, d *hyperdht.DHT, publicKey []byte) (Record, error) {
	m, err := d.MutableGet(ctx, publicKey, 0)
	if err != nil {
		return Record{}, err
	}
	return DecodeRecord(m.Value)
}
