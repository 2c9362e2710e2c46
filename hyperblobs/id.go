package hyperblobs

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
)

// ID locates a blob in its core: blocks [BlockOffset, BlockOffset+BlockLength)
// holding data bytes [ByteOffset, ByteOffset+ByteLength) of the core.
// With BlockMap the blocks hold a block map instead (written by hyperblobs'
// dedup mode) and ByteLength is the size of that map.
type ID struct {
	BlockOffset uint64
	BlockLength uint64
	ByteOffset  uint64
	ByteLength  uint64
	BlockMap    bool
}

// maxSafe is the largest integer a JS number holds exactly (2^53-1): JS
// peers cannot read larger offsets, so neither side may write them.
const maxSafe = 1<<53 - 1

// Validate reports an ID whose fields a JS peer could not have written or
// whose ranges overflow.
func (id ID) Validate() error {
	for _, v := range []uint64{id.BlockOffset, id.BlockLength, id.ByteOffset, id.ByteLength} {
		if v > maxSafe {
			return fmt.Errorf("%w: field above 2^53-1", ErrInvalidID)
		}
	}
	// Both sums stay below 2^54: no overflow in uint64.
	if id.BlockOffset+id.BlockLength > maxSafe || id.ByteOffset+id.ByteLength > maxSafe {
		return fmt.Errorf("%w: range ends above 2^53-1", ErrInvalidID)
	}
	if !id.BlockMap && id.BlockLength == 0 && id.ByteLength != 0 {
		return fmt.Errorf("%w: bytes without blocks", ErrInvalidID)
	}
	return nil
}

// End is the index just past the blob's last block.
func (id ID) End() uint64 { return id.BlockOffset + id.BlockLength }

// MarshalJSON writes the ID as hyperdrive stores it in an entry, with the
// keys in the order hyperblobs creates them: blockOffset, byteOffset,
// blockLength, byteLength, then blockMap (only when true).
func (id ID) MarshalJSON() ([]byte, error) {
	return id.AppendJSON(nil), nil
}

// AppendJSON appends the JSON form MarshalJSON returns.
func (id ID) AppendJSON(b []byte) []byte {
	b = append(b, `{"blockOffset":`...)
	b = strconv.AppendUint(b, id.BlockOffset, 10)
	b = append(b, `,"byteOffset":`...)
	b = strconv.AppendUint(b, id.ByteOffset, 10)
	b = append(b, `,"blockLength":`...)
	b = strconv.AppendUint(b, id.BlockLength, 10)
	b = append(b, `,"byteLength":`...)
	b = strconv.AppendUint(b, id.ByteLength, 10)
	if id.BlockMap {
		b = append(b, `,"blockMap":true`...)
	}
	return append(b, '}')
}

// UnmarshalJSON reads an ID as JSON.parse would see it: an object whose
// offsets and lengths are non-negative integers (missing ones are 0, other
// keys are ignored). The result is validated.
func (id *ID) UnmarshalJSON(b []byte) error {
	v, err := DecodeID(b)
	if err != nil {
		return err
	}
	*id = v
	return nil
}

// DecodeID parses the JSON form of an ID (see UnmarshalJSON).
func DecodeID(b []byte) (ID, error) {
	var raw map[string]json.RawMessage
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&raw); err != nil {
		return ID{}, fmt.Errorf("%w: %v", ErrInvalidID, err)
	}
	if raw == nil {
		return ID{}, fmt.Errorf("%w: not an object", ErrInvalidID)
	}
	var id ID
	fields := []struct {
		name string
		dst  *uint64
	}{
		{"blockOffset", &id.BlockOffset},
		{"blockLength", &id.BlockLength},
		{"byteOffset", &id.ByteOffset},
		{"byteLength", &id.ByteLength},
	}
	for _, f := range fields {
		r, ok := raw[f.name]
		if !ok {
			continue
		}
		n, err := jsonUint(r)
		if err != nil {
			return ID{}, fmt.Errorf("%w: %s: %v", ErrInvalidID, f.name, err)
		}
		*f.dst = n
	}
	if r, ok := raw["blockMap"]; ok {
		// JS tests truthiness; writers only ever put true there.
		var v any
		if err := json.Unmarshal(r, &v); err != nil {
			return ID{}, fmt.Errorf("%w: blockMap: %v", ErrInvalidID, err)
		}
		id.BlockMap = truthy(v)
	}
	if err := id.Validate(); err != nil {
		return ID{}, err
	}
	return id, nil
}

// jsonUint reads a JSON number that is a non-negative integer a JS number
// holds exactly (1e3 and 5.0 included, as JSON.parse reads them).
func jsonUint(r json.RawMessage) (uint64, error) {
	var n json.Number
	if len(r) > 0 && r[0] == '"' {
		return 0, errors.New("a string, not a number")
	}
	if err := json.Unmarshal(r, &n); err != nil {
		return 0, err
	}
	if u, err := strconv.ParseUint(string(n), 10, 64); err == nil {
		if u > maxSafe {
			return 0, errors.New("above 2^53-1")
		}
		return u, nil
	}
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil || f < 0 || f > maxSafe || f != math.Trunc(f) {
		return 0, fmt.Errorf("not a safe non-negative integer: %s", n)
	}
	return uint64(f), nil
}

func truthy(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case bool:
		return x
	case string:
		return x != ""
	case float64:
		return x != 0 && !math.IsNaN(x)
	default:
		return true
	}
}
