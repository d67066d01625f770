package proto_test

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestImports: a protocol package imports probe/proto and nothing else of
// depprobe's (not probe, not another protocol), so that protocols stay
// leaves that can move or grow on their own.
func TestImports(t *testing.T) {
	dirs, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, d := range dirs {
		if !d.IsDir() {
			continue
		}
		files, _ := filepath.Glob(filepath.Join(d.Name(), "*.go"))
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			n++
			file, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			for _, imp := range file.Imports {
				path, _ := strconv.Unquote(imp.Path.Value)
				if strings.HasPrefix(path, "github.com/depprobe/") && path != "github.com/depprobe/depprobe/probe/proto" {
					t.Errorf("%s imports %s; a protocol package imports only probe/proto of depprobe's", f, path)
				}
			}
		}
	}
	if n < 9 {
		t.Errorf("found %d protocol files, want at least 9", n)
	}
}
