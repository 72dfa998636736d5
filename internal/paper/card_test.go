package paper

import (
	"bytes"
	"image/png"
	"testing"
	"time"

	"healthcode/internal/codesign"
)

func TestNamePinyin(t *testing.T) {
	for in, want := range map[string]string{"张*": "ZHANG *", "欧阳**": "OU YANG **", "*": "*", "李": "LI", "A*": "A *"} {
		if got := NamePinyin(in); got != want {
			t.Errorf("NamePinyin(%q) = %q, want %q", in, got, want)
		}
	}
}

// The card is an A6 PNG whose QR code an independent decoder reads back to
// exactly the payload.
func TestCardCarriesThePayload(t *testing.T) {
	payload := "HCC1:" + codesign.Base45Encode(bytes.Repeat([]byte{0xA5, 0x3C, 0x7E}, 50))
	now := time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
	for _, colour := range []string{"green", "yellow", "red"} {
		b, err := Card(payload, codesign.Claims{Colour: colour, Star: colour == "yellow", MaskedName: "张*", IssuedAt: now, ExpiresAt: now.Add(24 * time.Hour), Issuer: "440000", Paper: true})
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		if s := img.Bounds().Size(); s.X != Width || s.Y != Height {
			t.Errorf("card size %v, want %dx%d (A6 at 300 dpi)", s, Width, Height)
		}
		got, err := codesign.DecodeImage(img)
		if err != nil || got != payload {
			t.Fatalf("%s card: decoded %q, %v; want the payload", colour, got, err)
		}
	}
	if _, err := Card(payload, codesign.Claims{Colour: "purple"}); err == nil {
		t.Error("a card for an unknown colour was drawn")
	}
}
