package codesign

import (
	"fmt"
	"strings"
)

// base45Alphabet is the RFC 9285 alphabet: exactly the characters of the QR
// code alphanumeric mode, so a Base45 string is stored at 5.5 bits a
// character in a QR code.
const base45Alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"

// base45Index maps a byte to its value in the alphabet, or 0xff.
var base45Index = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for i := 0; i < len(base45Alphabet); i++ {
		t[base45Alphabet[i]] = byte(i)
	}
	return t
}()

// Base45Encode encodes src as RFC 9285 Base45: every two bytes [a, b] become
// the three characters c, d, e with a*256+b = c + d*45 + e*45*45, and a
// trailing single byte a becomes the two characters c, d with a = c + d*45.
func Base45Encode(src []byte) string {
	var sb strings.Builder
	sb.Grow(len(src)/2*3 + len(src)%2*2)
	for i := 0; i+1 < len(src); i += 2 {
		n := int(src[i])<<8 | int(src[i+1])
		sb.WriteByte(base45Alphabet[n%45])
		sb.WriteByte(base45Alphabet[n/45%45])
		sb.WriteByte(base45Alphabet[n/(45*45)])
	}
	if len(src)%2 == 1 {
		n := int(src[len(src)-1])
		sb.WriteByte(base45Alphabet[n%45])
		sb.WriteByte(base45Alphabet[n/45])
	}
	return sb.String()
}

// base45Len is the length of the Base45 encoding of n bytes.
func base45Len(n int) int { return n/2*3 + n%2*2 }

// base45Put writes the Base45 encoding of src to dst, which is
// base45Len(len(src)) bytes long.
func base45Put(dst, src []byte) {
	dst = dst[:base45Len(len(src))]
	j := 0
	for i := 0; i+1 < len(src); i += 2 {
		n := uint(src[i])<<8 | uint(src[i+1])
		dst[j] = base45Alphabet[n%45]
		dst[j+1] = base45Alphabet[n/45%45]
		dst[j+2] = base45Alphabet[n/(45*45)]
		j += 3
	}
	if len(src)%2 == 1 {
		n := uint(src[len(src)-1])
		dst[j] = base45Alphabet[n%45]
		dst[j+1] = base45Alphabet[n/45]
	}
}

// Base45Decode decodes an RFC 9285 Base45 string. It rejects, as the RFC
// requires, a character outside the alphabet (lower case included), a length
// of 1 modulo 3, a three-character group above 65535 and a trailing
// two-character group above 255. Decoding is therefore the exact inverse of
// Base45Encode: every byte string has exactly one encoding.
func Base45Decode(s string) ([]byte, error) {
	return base45Append(make([]byte, 0, len(s)/3*2+len(s)%3/2), s)
}

// base45Append is Base45Decode appending to out.
func base45Append(out []byte, s string) ([]byte, error) {
	if len(s)%3 == 1 {
		return nil, fmt.Errorf("base45: length %d is 1 modulo 3", len(s))
	}
	for i := 0; i < len(s); i += 3 {
		group := s[i:min(i+3, len(s))]
		n := 0
		mul := 1
		for j := 0; j < len(group); j++ {
			v := base45Index[group[j]]
			if v == 0xff {
				return nil, fmt.Errorf("base45: invalid character %q at offset %d", group[j], i+j)
			}
			n += int(v) * mul
			mul *= 45
		}
		if len(group) == 3 {
			if n > 0xffff {
				return nil, fmt.Errorf("base45: group %q at offset %d has value %d > 65535", group, i, n)
			}
			out = append(out, byte(n>>8), byte(n))
		} else {
			if n > 0xff {
				return nil, fmt.Errorf("base45: final group %q at offset %d has value %d > 255", group, i, n)
			}
			out = append(out, byte(n))
		}
	}
	return out, nil
}
