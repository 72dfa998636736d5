package codesign

import (
	"bytes"
	"image"
	"image/png"
	"testing"
)

// SignCode → EncodePNG → DecodePNG (gozxing, a decoder independent of the
// encoder) → Verify, for many tokens (symbols differ with every signature)
// and two image sizes.
func TestQRRoundTrip(t *testing.T) {
	f := newFixture(t)
	tl := f.list(t, t0)
	for _, region := range []string{regionEd, regionEC} {
		s := f.signer(t, region)
		for i := range 20 {
			c := sampleClaims(t, t0)
			c.MaskedName = "张*"
			size := []int{300, 400}[i%2]
			for _, payload := range []string{signCode(t, s, c), signPlace(t, s, PlaceClaims{Place: "L45"})} {
				data, err := EncodePNG(payload, size)
				if err != nil {
					t.Fatal(err)
				}
				img, err := png.Decode(bytes.NewReader(data))
				if err != nil {
					t.Fatal(err)
				}
				if b := img.Bounds(); b.Dx() != size || b.Dy() != size {
					t.Fatalf("image of %v, want %dx%d", b, size, size)
				}
				text, err := DecodePNG(data)
				if err != nil {
					t.Fatal(err)
				}
				if text != payload {
					t.Fatalf("decoded %q, want %q", text, payload)
				}
				if payload[:len(HealthCodePrefix)] == HealthCodePrefix {
					if _, err := Verify(text, tl, t0); err != nil {
						t.Fatal(err)
					}
				} else if _, err := VerifyPlace(text, tl, t0); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}

func TestQRUnreadable(t *testing.T) {
	_, err := DecodePNG([]byte("not a png"))
	wantCode(t, err, CodeUnreadableQR)
	blank := image.NewGray(image.Rect(0, 0, 200, 200))
	for i := range blank.Pix {
		blank.Pix[i] = 0xff
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, blank); err != nil {
		t.Fatal(err)
	}
	_, err = DecodePNG(buf.Bytes())
	wantCode(t, err, CodeUnreadableQR)
}
