//go:build !amd64 || purego

package audit

import (
	"crypto/sha256"

	"golang.org/x/mod/sumdb/tlog"
)

const useSHANI = false

// sum256 returns the SHA-256 of buf (and buf).
func sum256(buf []byte) (tlog.Hash, []byte) { return sha256.Sum256(buf), buf }

// nodeHash is tlog.NodeHash.
func nodeHash(l, r tlog.Hash) tlog.Hash { return tlog.NodeHash(l, r) }
