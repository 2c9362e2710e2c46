package hyperdrive

import (
	"fmt"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Normalize returns the key hyperdrive stores a file under: the path
// resolved from "/" with "/" and "\" as separators, empty and "." parts
// dropped and ".." applied (a ".." above the root is an error), as
// unix-path-resolve does, URL-ish prefixes ("c:", "file:", "x://host")
// included. The root itself is not a file name: Normalize("/") fails.
func Normalize(name string) (string, error) {
	p, err := Resolve("/", name)
	if err != nil {
		return "", err
	}
	if p == "/" {
		return "", fmt.Errorf("%w: %q", ErrInvalidPath, name)
	}
	if !utf8.ValidString(p) {
		return "", fmt.Errorf("%w: not UTF-8: %q", ErrInvalidPath, name)
	}
	return p, nil
}

// normalizeFolder normalizes a folder for a prefix range: "/" (and "")
// become "", other folders lose their trailing slash.
func normalizeFolder(folder string) (string, error) {
	p, err := Resolve("/", folder)
	if err != nil {
		return "", err
	}
	return strings.TrimSuffix(p, "/"), nil
}

// Resolve resolves p against base as unix-path-resolve does: an absolute p
// stands alone, a relative one continues base, which must then be
// absolute. Symlink targets resolve against the link's own key.
func Resolve(base, p string) (string, error) {
	bAbs, bNames := parsePath(base)
	pAbs, pNames := parsePath(p)
	if pAbs {
		return joinNames("/", pNames)
	}
	if !bAbs {
		return "", fmt.Errorf("%w: neither %q nor %q is absolute", ErrInvalidPath, base, p)
	}
	root, err := joinNames("/", bNames)
	if err != nil {
		return "", err
	}
	return joinNames(root, pNames)
}

func parsePath(s string) (abs bool, names []string) {
	names = splitSeps(s)
	if len(names) > 1 && strings.HasSuffix(names[0], ":") {
		switch {
		case jsLen(names[0]) == 2: // a drive letter
			return true, names[1:]
		case names[0] == "file:":
			return true, names[1:]
		case len(names) >= 3:
			return true, names[3:]
		default:
			return true, nil
		}
	}
	return strings.HasPrefix(s, "/") || strings.HasPrefix(s, `\`), names
}

// splitSeps splits at every "/" and "\", keeping empty parts.
func splitSeps(s string) []string {
	var out []string
	last := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '/' || s[i] == '\\' {
			out = append(out, s[last:i])
			last = i + 1
		}
	}
	return append(out, s[last:])
}

// jsLen is the length of s as a JS string (UTF-16 code units).
func jsLen(s string) int {
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r)
	}
	return n
}

func joinNames(p string, names []string) (string, error) {
	for _, n := range names {
		switch n {
		case "", ".":
			continue
		case "..":
			if p == "/" {
				return "", fmt.Errorf("%w: too many '..'", ErrInvalidPath)
			}
			p = p[:strings.LastIndexByte(p, '/')]
			if p == "" {
				p = "/"
			}
			continue
		}
		if p == "/" {
			p += n
		} else {
			p += "/" + n
		}
	}
	return p, nil
}
