package codesign

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"

	"github.com/makiuchi-d/gozxing"
	gzqrcode "github.com/makiuchi-d/gozxing/qrcode"
	"github.com/skip2/go-qrcode"
)

// EncodePNG renders payload as a QR code PNG, error correction level M, of
// size×size pixels. Every module is drawn with the same whole number of
// pixels and the symbol (with its quiet zone) is centred on a white canvas:
// stretching modules to fill an arbitrary size unevenly makes some codes
// unreadable. If size is smaller than one pixel per module, the image is as
// large as the symbol. Base45 payloads use only QR alphanumeric characters,
// so the encoder picks the compact alphanumeric mode.
func EncodePNG(payload string, size int) ([]byte, error) {
	q, err := qrcode.New(payload, qrcode.Medium)
	if err != nil {
		return nil, fmt.Errorf("codesign: encode QR: %w", err)
	}
	modules := len(q.Bitmap()) // including the quiet zone
	scale := max(1, size/modules)
	size = max(size, modules)
	img := image.NewPaletted(image.Rect(0, 0, size, size), color.Palette{color.White, color.Black})
	off := (size - modules*scale) / 2
	sym := q.Image(-scale)
	draw.Draw(img, sym.Bounds().Add(image.Pt(off, off)), sym, sym.Bounds().Min, draw.Src)
	var buf bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestCompression}
	if err := enc.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("codesign: encode PNG: %w", err)
	}
	return buf.Bytes(), nil
}

// DecodePNG reads the QR code in a PNG image and returns its text. A
// failure is an *Error with code unreadable_qr.
func DecodePNG(data []byte) (string, error) {
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		return "", reject(CodeUnreadableQR, "not a PNG image: %v", err)
	}
	return DecodeImage(img)
}

// DecodeImage reads the QR code in an image (a photo or a screenshot) with
// the gozxing QR reader and returns its text. It first runs the detector
// that finds a code anywhere in a picture; if that fails it retries in
// pure-barcode mode, which reads a clean rendered code (a PNG from
// EncodePNG, a screenshot) directly and does not suffer from the detector's
// occasional misreads of large, perfectly sharp symbols. A failure is an
// *Error with code unreadable_qr.
func DecodeImage(img image.Image) (string, error) {
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		return "", reject(CodeUnreadableQR, "%v", err)
	}
	reader := gzqrcode.NewQRCodeReader()
	res, err := reader.Decode(bmp, map[gozxing.DecodeHintType]any{gozxing.DecodeHintType_TRY_HARDER: true})
	if err != nil {
		var err2 error
		if res, err2 = reader.Decode(bmp, map[gozxing.DecodeHintType]any{gozxing.DecodeHintType_PURE_BARCODE: true}); err2 != nil {
			return "", reject(CodeUnreadableQR, "no QR code found: %v", err)
		}
	}
	return res.GetText(), nil
}
