package hyperdrive

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/warrenp2p/warren/hyperblobs"
)

// Entry is one file of a drive (or of a local folder): a regular file with
// a blob, or a symlink with a Linkname.
type Entry struct {
	// Key is the normalized path, such as "/docs/a.txt".
	Key string
	// Seq is the hyperbee block that wrote the entry (0 for local files).
	Seq uint64
	// Executable is the file's executable bit.
	Executable bool
	// Linkname is a symlink's target; empty for a regular file.
	Linkname string
	// Blob locates the content; nil for a symlink. For a local file only
	// ByteLength (the size) is meaningful.
	Blob *hyperblobs.ID
	// Metadata is the entry's JSON metadata, nil when there is none (null).
	Metadata json.RawMessage
	// Mtime is a local file's modification time (zero in a drive).
	Mtime time.Time
}

// IsSymlink reports whether the entry is a symlink.
func (e *Entry) IsSymlink() bool { return e.Linkname != "" }

// Size is the size of a regular file as its blob ID records it (0 for a
// symlink; for a block-mapped blob see hyperblobs.Blobs.Size).
func (e *Entry) Size() uint64 {
	if e.Blob == nil {
		return 0
	}
	return e.Blob.ByteLength
}

// EncodeValue returns the bytes hyperdrive stores as the entry's value:
// JSON.stringify of {executable, linkname, blob, metadata}, byte for byte.
// Metadata is re-encoded as JSON.stringify(JSON.parse(metadata)); invalid
// JSON metadata is an error.
func EncodeValue(e *Entry) ([]byte, error) {
	b := make([]byte, 0, 160+len(e.Metadata))
	b = append(b, `{"executable":`...)
	if e.Executable {
		b = append(b, "true"...)
	} else {
		b = append(b, "false"...)
	}
	b = append(b, `,"linkname":`...)
	if e.Linkname != "" {
		b = appendJSString(b, e.Linkname)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"blob":`...)
	if e.Blob != nil {
		if err := e.Blob.Validate(); err != nil {
			return nil, err
		}
		b = e.Blob.AppendJSON(b)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"metadata":`...)
	if len(bytes.TrimSpace(e.Metadata)) == 0 {
		b = append(b, "null"...)
	} else {
		m, err := canonicalJSON(e.Metadata)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalidMetadata, err)
		}
		b = append(b, m...)
	}
	return append(b, '}'), nil
}

// DecodeValue parses an entry value as a JS peer would read it. Values come
// from peers: anything but an object with the expected field types is an
// ErrDecode error. Key and Seq are left for the caller.
func DecodeValue(b []byte) (*Entry, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrDecode, err)
	}
	if raw == nil {
		return nil, fmt.Errorf("%w: value is not an object", ErrDecode)
	}
	e := &Entry{}
	if r, ok := raw["executable"]; ok {
		var v any
		if err := json.Unmarshal(r, &v); err != nil {
			return nil, fmt.Errorf("%w: executable: %v", ErrDecode, err)
		}
		e.Executable = v == true
	}
	if r, ok := raw["linkname"]; ok && !isNull(r) {
		if err := json.Unmarshal(r, &e.Linkname); err != nil {
			return nil, fmt.Errorf("%w: linkname: %v", ErrDecode, err)
		}
	}
	if r, ok := raw["blob"]; ok && !isNull(r) {
		id, err := hyperblobs.DecodeID(r)
		if err != nil {
			return nil, fmt.Errorf("%w: blob: %w", ErrDecode, err)
		}
		e.Blob = &id
	}
	if r, ok := raw["metadata"]; ok && !isNull(r) {
		e.Metadata = append(json.RawMessage(nil), bytes.TrimSpace(r)...)
	}
	return e, nil
}

func isNull(r json.RawMessage) bool { return string(bytes.TrimSpace(r)) == "null" }
