package target

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"

	"github.com/cloudone-onboarder/cloudone-onboarder/internal/secret"
)

// A generated template's URL leads to a template that holds a Vision One key (Vision One
// documentation, "Adding an AWS account": the template embeds an API key valid 90 days).
// Whether the URL alone lets anyone read it (a presigned or public object) is not documented,
// so the URL is handled as a secret: the ledger keeps it sealed, with a key derived from the
// onboarder's own Vision One key, which only the reconcile function reads. Whoever may read
// the ledger (the operator's policy scans it) sees neither the URL nor the template.

// sealedPrefix starts a sealed URL in the ledger: the version of the scheme.
const sealedPrefix = "sealed:v1:"

// errUnsealed: a kept URL that cannot be opened (the key was rotated since, or the item was
// not written by this scheme): the template is generated again.
var errUnsealed = errors.New("the kept template cannot be opened with the current key")

// sealKey derives the AES-256 key from the Vision One key (HKDF-SHA256, RFC 5869).
func sealKey(key secret.Value) (cipher.AEAD, error) {
	if key.Empty() {
		return nil, errors.New("no Vision One key to seal the template's URL with")
	}
	k, err := hkdf.Key(sha256.New, []byte(key.Reveal()), nil, "cloudone-onboarder generated template url v1", 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// sealURL seals url for the ledger: AES-256-GCM, a random nonce, the ledger key as
// additional data (a sealed URL moved to another item does not open).
func sealURL(key secret.Value, item, url string) (string, error) {
	aead, err := sealKey(key)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	return sealedPrefix + base64.RawURLEncoding.EncodeToString(aead.Seal(nonce, nonce, []byte(url), []byte(item))), nil
}

// openURL opens what sealURL sealed under item.
func openURL(key secret.Value, item, sealed string) (string, error) {
	body, ok := strings.CutPrefix(sealed, sealedPrefix)
	if !ok {
		return "", errUnsealed
	}
	raw, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil {
		return "", errUnsealed
	}
	aead, err := sealKey(key)
	if err != nil {
		return "", err
	}
	if len(raw) < aead.NonceSize() {
		return "", errUnsealed
	}
	url, err := aead.Open(nil, raw[:aead.NonceSize()], raw[aead.NonceSize():], []byte(item))
	if err != nil {
		return "", errUnsealed
	}
	return string(url), nil
}
