package packaging

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// inCI reports whether a missing prerequisite must fail a test rather than
// skip it (CI=true, as .ci/run sets).
//
//lint:ignore U1000 kept for the test files that TestSkipsOnlyForPrerequisites allows to call it
func inCI() bool {
	ci, err := strconv.ParseBool(os.Getenv("CI"))
	return err == nil && ci
}

// TestSkipsOnlyForPrerequisites reads every test file of the repository: a
// test may skip only where it has asked whether it runs under CI (inCI, or
// the CI variable itself) or was told -short, so that a skip never hides a
// product that misbehaves and never happens under CI=true for a missing
// prerequisite. A skip in a function that asks neither is reported with
// its place.
func TestSkipsOnlyForPrerequisites(t *testing.T) {
	fset := token.NewFileSet()
	files := 0
	err := filepath.WalkDir(repoRoot, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") && path != repoRoot || d.Name() == "node_modules" || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		files++
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || fn.Body == nil {
				continue
			}
			guarded := false
			ast.Inspect(fn.Body, func(n ast.Node) bool {
				switch n := n.(type) {
				case *ast.Ident:
					if n.Name == "inCI" {
						guarded = true
					}
				case *ast.BasicLit:
					if n.Value == `"CI"` {
						guarded = true
					}
				case *ast.SelectorExpr:
					if x, ok := n.X.(*ast.Ident); ok && x.Name == "testing" && n.Sel.Name == "Short" {
						guarded = true
					}
					if skip := n.Sel.Name; (skip == "Skip" || skip == "Skipf" || skip == "SkipNow") && !guarded {
						if _, call := n.X.(*ast.Ident); call {
							t.Errorf("%s: %s.%s in %s without asking whether it runs under CI first: under CI=true a test may skip only for a missing prerequisite, never because the product misbehaved",
								fset.Position(n.Pos()), n.X, n.Sel.Name, fn.Name.Name)
						}
					}
				}
				return true
			})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 20 {
		t.Fatalf("read %d test files under %s; the repository has more", files, repoRoot)
	}
}
