package caddymodule

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"time"

	"go.uber.org/zap"

	"github.com/tokengate/tokengate/token"
)

// importCSV is POST /tokengate/import. The body is spooled to a temporary
// file (at most MaxImportBytes, removed afterwards) so that the import can
// check every row before it writes any and then read the file again to
// write it in chunks (token.Service.ImportCSV): memory stays flat in the
// rows but for the check's digest set. Progress is logged; an interrupted
// import (the client gone, the store down) keeps the chunks it wrote, and
// posting the same file again finishes it.
func (a *AdminAPI) importCSV(q adminReq) error {
	if mt, _, err := mime.ParseMediaType(q.r.Header.Get("Content-Type")); err != nil || mt != "text/csv" {
		return apiErr(http.StatusUnsupportedMediaType, "POST /tokengate/import: send the CSV file (owner,label,token) with Content-Type text/csv")
	}
	f, err := os.CreateTemp("", "tokengate-import-*.csv")
	if err != nil {
		return a.fail(q, "import", fmt.Errorf("spooling the CSV body: %w", err))
	}
	defer os.Remove(f.Name())
	defer f.Close()
	n, err := io.Copy(f, io.LimitReader(q.r.Body, MaxImportBytes+1))
	if err != nil {
		return apiErr(http.StatusBadRequest, "reading the CSV body: %v", err)
	}
	if n > MaxImportBytes {
		return apiErr(http.StatusRequestEntityTooLarge, "the CSV body is larger than %d MiB; split the file", MaxImportBytes>>20)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return a.fail(q, "import", fmt.Errorf("rewinding the spooled CSV body: %w", err))
	}
	fields := []zap.Field{zap.String("action", "import"), zap.String("actor", q.actor.Name())}
	r, err := q.svc.ImportCSV(q.r.Context(), q.actor, f, token.ImportOptions{Progress: ImportProgressLogger(a.log, fields...)})
	fields = append(fields, zap.Int("imported", r.Imported), zap.Int("already_there", r.AlreadyThere))
	if err != nil {
		if r.Imported > 0 {
			a.log.Warn("legacy token import interrupted; post the same file again to finish", append(fields, zap.Error(err))...)
		}
		var in *token.InputError
		if errors.Is(err, token.ErrDuplicate) && !errors.As(err, &in) {
			return apiErr(http.StatusConflict, "%v", err) // names the line; nothing "already imported" about it
		}
		return a.fail(q, "import", err)
	}
	a.log.Info("legacy tokens imported", fields...)
	return writeAdminJSON(q.w, AdminCount{Imported: intp(r.Imported), AlreadyThere: intp(r.AlreadyThere)})
}

// ImportProgressInterval is the least time between two progress lines of
// an import in the log (the first chunk is always logged).
const ImportProgressInterval = time.Second

// ImportProgressLogger returns a token.ImportOptions.Progress that logs an
// import's progress at info with fields: after the first chunk, then at
// most once per ImportProgressInterval.
func ImportProgressLogger(log *zap.Logger, fields ...zap.Field) func(token.ImportProgress) {
	logp := progressLog(log, ImportProgressInterval, "legacy token import in progress", fields)
	return func(p token.ImportProgress) {
		logp(p.Chunks == 1, zap.Int("imported", p.Imported), zap.Int("to_import", p.ToImport),
			zap.Int("already_there", p.AlreadyThere), zap.Int("chunks", p.Chunks))
	}
}
