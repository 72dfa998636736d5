// Package paper renders printable health codes for people without
// smartphones: an A6 card (105 × 148 mm at 300 dpi) with the signed paper
// token as a QR code, the colour, the masked name and the validity.
//
// The card's text is Latin (Go fonts, embedded): the masked name is printed
// in Hanyu Pinyin, as on a passport, so the binary needs no CJK font; the
// token inside the QR code carries the name in characters for verifiers.
package paper

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/mozillazg/go-pinyin"
	qrcode "github.com/skip2/go-qrcode"
	"golang.org/x/image/font"
	"golang.org/x/image/font/gofont/gobold"
	"golang.org/x/image/font/gofont/goregular"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/math/fixed"

	"healthcode/internal/codesign"
	"healthcode/internal/health"
)

// Card size: A6 at 300 dpi.
const (
	Width  = 1240
	Height = 1748
)

var (
	fontsOnce          sync.Once
	fontErr            error
	regular, bold      *opentype.Font
	colourFill         = map[string]color.RGBA{"green": {0x1e, 0x9e, 0x4a, 0xff}, "yellow": {0xf2, 0xc2, 0x1b, 0xff}, "red": {0xd3, 0x2f, 0x2f, 0xff}}
	black, grey, white = color.RGBA{0, 0, 0, 0xff}, color.RGBA{0x55, 0x55, 0x55, 0xff}, color.RGBA{0xff, 0xff, 0xff, 0xff}
)

func loadFonts() error {
	fontsOnce.Do(func() {
		if regular, fontErr = opentype.Parse(goregular.TTF); fontErr != nil {
			return
		}
		bold, fontErr = opentype.Parse(gobold.TTF)
	})
	return fontErr
}

// Card renders the card for a signed paper token and its claims as a PNG.
func Card(payload string, c codesign.Claims) ([]byte, error) {
	if err := loadFonts(); err != nil {
		return nil, fmt.Errorf("paper: fonts: %w", err)
	}
	img := image.NewRGBA(image.Rect(0, 0, Width, Height))
	draw.Draw(img, img.Bounds(), image.NewUniform(white), image.Point{}, draw.Src)
	band, ok := colourFill[c.Colour]
	if !ok {
		return nil, fmt.Errorf("paper: unknown colour %q", c.Colour)
	}
	draw.Draw(img, image.Rect(0, 0, Width, 230), image.NewUniform(band), image.Point{}, draw.Src)
	title := "HEALTH CODE  " + strings.ToUpper(c.Colour)
	if c.Star {
		title += "  *STAR*"
	}
	ink := white
	if c.Colour == "yellow" {
		ink = black
	}
	if err := text(img, bold, 72, 70, 130, title, ink); err != nil {
		return nil, err
	}
	if err := text(img, regular, 36, 70, 195, "Paper code / printed for a person without a smartphone", ink); err != nil {
		return nil, err
	}

	q, err := qrcode.New(payload, qrcode.Medium)
	if err != nil {
		return nil, fmt.Errorf("paper: QR: %w", err)
	}
	q.DisableBorder = false
	qr := q.Image(1000)
	draw.Draw(img, image.Rect(120, 270, 1120, 1270), qr, image.Point{}, draw.Src)

	lines := []struct {
		f    *opentype.Font
		size float64
		s    string
		ink  color.RGBA
	}{
		{bold, 56, "NAME  " + NamePinyin(c.MaskedName), black},
		{regular, 44, "Valid until " + c.ExpiresAt.In(health.CST).Format("2006-01-02 15:04") + " (China Standard Time)", black},
		{regular, 36, "Issued " + c.IssuedAt.In(health.CST).Format("2006-01-02 15:04") + " by node " + c.Issuer, grey},
		{regular, 32, "Scan with any health code verifier. Invalid after the time above.", grey},
	}
	y := 1370
	for _, l := range lines {
		if err := text(img, l.f, l.size, 70, y, l.s, l.ink); err != nil {
			return nil, err
		}
		y += int(l.size * 1.6)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func text(img draw.Image, f *opentype.Font, size float64, x, y int, s string, ink color.RGBA) error {
	face, err := opentype.NewFace(f, &opentype.FaceOptions{Size: size, DPI: 72, Hinting: font.HintingFull})
	if err != nil {
		return err
	}
	defer face.Close()
	d := font.Drawer{Dst: img, Src: image.NewUniform(ink), Face: face, Dot: fixed.P(x, y)}
	d.DrawString(s)
	return nil
}

// NamePinyin writes a masked name ("张*") in upper-case Hanyu Pinyin with
// the mask kept ("ZHANG *"). Characters without a reading are replaced by
// "?".
func NamePinyin(masked string) string {
	var parts []string
	for _, r := range masked {
		switch {
		case r == '*':
			parts = append(parts, "*")
		case r < utf8.RuneSelf:
			parts = append(parts, strings.ToUpper(string(r)))
		default:
			py := pinyin.LazyConvert(string(r), nil)
			if len(py) == 0 {
				parts = append(parts, "?")
			} else {
				parts = append(parts, strings.ToUpper(py[0]))
			}
		}
	}
	// Join syllables with spaces and keep the stars together: "ZHANG **".
	var b strings.Builder
	for i, p := range parts {
		if i > 0 && !(p == "*" && parts[i-1] == "*") {
			b.WriteByte(' ')
		}
		b.WriteString(p)
	}
	return b.String()
}
