// Package pairing holds the cryptographic values of Sendspin pairing
// (pairing.md): pairing tokens, nonces and the commitment commit_B, the
// derivation and presentation of pairing codes, random static codes and
// PSKs, the per-round CPace instantiation (sid, PRS, AD) and the wrapping of
// long_term_psk and nonce_B under K_wrap.
//
// It owns values and their checks, not the conversation: the pairing state
// machines (which message comes when, rounds and windows, persistence)
// build on it. It must not do I/O, read clocks, start goroutines, or put a
// secret into a String method or an error; randomness is an io.Reader
// parameter that defaults to crypto/rand.
package pairing

import (
	"crypto/rand"
	"errors"
	"io"
)

// Errors. The comment says which are protocol errors in the sense of
// pairing.md "Protocol Errors" (close the connection, send nothing,
// persist nothing). No error text includes the input that caused it.
var (
	// ErrTokenMalformed reports token text that is not a pairing token, or
	// whose payload is shorter than its version defines.
	ErrTokenMalformed = errors.New("pairing: malformed pairing token")

	// ErrTokenVersion reports a token version this implementation does not
	// know.
	ErrTokenVersion = errors.New("pairing: unknown pairing token version")

	// ErrTokenWrongVersion reports a known token version that the caller
	// does not accept here (for example a code token where a PSK token is
	// expected).
	ErrTokenWrongVersion = errors.New("pairing: pairing token of another kind")

	// ErrCodeFormat reports operator-typed code text that is not a pairing
	// code of the expected length. The wrapping error says what is wrong.
	ErrCodeFormat = errors.New("pairing: invalid pairing code")

	// ErrCommitMismatch is a protocol error: the revealed nonce_B does not
	// open commit_B ("Server verification" step 2).
	ErrCommitMismatch = errors.New("pairing: revealed nonce does not match its commitment")

	// ErrCodeMismatch is a protocol error: the entered code is not the code
	// derived from (h, nonce_A, nonce_B) ("Server verification" step 3).
	ErrCodeMismatch = errors.New("pairing: entered code fails the binding check")

	// ErrUnwrap is a protocol error: wrapped_psk or wrapped_nonce_B failed
	// to decrypt ("Wrapping").
	ErrUnwrap = errors.New("pairing: wrapped value failed to decrypt")

	// ErrEncoding reports a nonce, commitment or wrapped value whose text
	// form is not canonical base64url of the right length.
	ErrEncoding = errors.New("pairing: malformed base64url value")

	// ErrParams reports round parameters that cannot describe a pairing
	// round: unknown suite, missing code, zero pairing_index or round.
	ErrParams = errors.New("pairing: invalid round parameters")
)

func randOrDefault(r io.Reader) io.Reader {
	if r == nil {
		return rand.Reader
	}
	return r
}
