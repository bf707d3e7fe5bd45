package hostkit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/prometheus/promql/parser"
)

// Server serves the host protocol for one Host. Create it with NewServer, serve
// Handler(), and Close it when done (it owns the loaded TSDB).
type Server struct {
	host    Host
	engines map[string]*Engine
	modules map[string]string

	mu sync.RWMutex // guards st; queries hold RLock while they run, /load swaps under Lock
	st *store
}

// NewServer checks the host and opens an empty storage.
func NewServer(h Host) (*Server, error) {
	if len(h.Engines) == 0 {
		return nil, errors.New("hostkit: a host needs at least one engine")
	}
	if h.Parse == nil {
		return nil, errors.New("hostkit: Host.Parse is required")
	}
	s := &Server{host: h, engines: map[string]*Engine{}, modules: moduleVersions(h.ModulePaths)}
	for i := range h.Engines {
		e := &h.Engines[i]
		if e.Name == "" || e.Engine == nil {
			return nil, fmt.Errorf("hostkit: engine #%d needs a Name and an Engine", i)
		}
		if _, dup := s.engines[e.Name]; dup {
			return nil, fmt.Errorf("hostkit: duplicate engine name %q", e.Name)
		}
		s.engines[e.Name] = e
	}
	st, err := emptyStore()
	if err != nil {
		return nil, err
	}
	s.st = st
	return s, nil
}

// Close releases the loaded storage.
func (s *Server) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.st.close()
	s.st = nil
	return err
}

// EngineNames lists the engines in the host's order.
func (s *Server) EngineNames() []string {
	out := make([]string, len(s.host.Engines))
	for i, e := range s.host.Engines {
		out[i] = e.Name
	}
	return out
}

// Configs reports each engine's effective configuration (Engine.Config).
func (s *Server) Configs() map[string]map[string]string {
	out := map[string]map[string]string{}
	for _, e := range s.host.Engines {
		c := map[string]string{}
		for k, v := range e.Config {
			c[k] = v
		}
		out[e.Name] = c
	}
	return out
}

// Modules reports the module versions (see Host.ModulePaths).
func (s *Server) Modules() map[string]string { return s.modules }

// Handler returns the HTTP handler with every endpoint of the protocol.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/health", s.handleHealth)
	mux.HandleFunc("/load", s.handleLoad)
	mux.HandleFunc("/dump", s.handleDump)
	mux.HandleFunc("/api/v1/query", func(w http.ResponseWriter, r *http.Request) { s.handleQuery(w, r, false) })
	mux.HandleFunc("/api/v1/query_range", func(w http.ResponseWriter, r *http.Request) { s.handleQuery(w, r, true) })
	mux.HandleFunc("/api/v1/batch", s.handleBatch)
	mux.HandleFunc("/api/v1/parse", s.handleParse)
	mux.HandleFunc("/api/v1/functions", s.handleFunctions)
	mux.HandleFunc("/coverage/flush", s.handleCoverageFlush)
	mux.HandleFunc("/debug/freememory", handleFreeMemory)
	if s.host.Routes != nil {
		s.host.Routes(s, mux)
	}
	return mux
}

func moduleVersions(paths []string) map[string]string {
	if paths == nil {
		paths = DefaultModulePaths()
	}
	out := map[string]string{}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return out
	}
	for _, dep := range info.Deps {
		for _, p := range paths {
			if dep.Path != p {
				continue
			}
			if dep.Replace != nil {
				out[p] = dep.Replace.Path + " " + dep.Replace.Version
			} else {
				out[p] = dep.Version
			}
		}
	}
	return out
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"status":"error","errorType":"internal","error":"encoding failed"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func writeError(w http.ResponseWriter, errorType, msg string) {
	writeJSON(w, httpStatus(errorType), map[string]string{"status": "error", "errorType": errorType, "error": msg})
}

// ---------------------------------------------------------------------------- endpoints

func (s *Server) handleHealth(w http.ResponseWriter, _ *http.Request) {
	s.mu.RLock()
	st := s.st
	var fp string
	var err error
	if st != nil {
		fp, err = st.fingerprint()
	}
	var counts loadCounts
	if st != nil {
		counts = st.counts
	}
	s.mu.RUnlock()
	if err != nil {
		writeError(w, ErrInternal, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"status":  "ok",
		"engines": s.EngineNames(),
		"configs": s.Configs(),
		"modules": s.modules,
		"go":      runtime.Version(),
		"loaded": map[string]any{
			"series": counts.Series, "floats": counts.Floats, "histograms": counts.Histograms, "fingerprint": fp,
		},
	})
}

func (s *Server) handleLoad(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		writeError(w, ErrBadData, "POST a dataset (application/json) or a promqltest load block (text/plain)")
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		writeError(w, ErrBadData, err.Error())
		return
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	start := time.Now()
	var st *store
	switch ct {
	case "application/json":
		st, err = loadJSON(body)
	case "text/plain", "":
		st, err = loadText(string(body))
	default:
		err = fmt.Errorf("unsupported Content-Type %q (expected application/json or text/plain)", ct)
	}
	if err != nil {
		writeError(w, ErrBadData, err.Error())
		return
	}
	loadNs := time.Since(start).Nanoseconds()
	s.mu.Lock()
	old := s.st
	s.st = st
	s.mu.Unlock()
	if err := old.close(); err != nil {
		fmt.Fprintf(os.Stderr, "hostkit: closing previous storage: %v\n", err)
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"status": "success", "series": st.counts.Series, "floats": st.counts.Floats,
		"histograms": st.counts.Histograms, "loadNs": loadNs,
	})
}

func (s *Server) handleDump(w http.ResponseWriter, _ *http.Request) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var buf bytes.Buffer
	if err := s.st.dump(&buf); err != nil {
		writeError(w, ErrInternal, err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(buf.Bytes())
}

func (s *Server) engine(name string) (*Engine, error) {
	if name == "" {
		if len(s.host.Engines) == 1 {
			return &s.host.Engines[0], nil
		}
		return nil, fmt.Errorf("parameter engine is required; engines: %s", strings.Join(s.EngineNames(), ", "))
	}
	e, ok := s.engines[name]
	if !ok {
		return nil, fmt.Errorf("unknown engine %q; engines: %s", name, strings.Join(s.EngineNames(), ", "))
	}
	return e, nil
}

// Run answers one query against the loaded data, as the query endpoints do. Exposed for
// tests and benchmarks of host modules.
func (s *Server) Run(engine string, req QueryRequest, fullHistograms bool) (status int, body []byte) {
	var buf bytes.Buffer
	a := s.run(engine, req, fullHistograms)
	a.encode(&buf)
	return a.status(), buf.Bytes()
}

func (s *Server) run(engine string, req QueryRequest, full bool) *answer {
	eng, err := s.engine(engine)
	if err != nil {
		return badData("%s", err.Error())
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.st == nil {
		return &answer{errorType: ErrInternal, err: "host is closed"}
	}
	return runQuery(context.Background(), eng, s.st, req, full)
}

func (s *Server) handleQuery(w http.ResponseWriter, r *http.Request, isRange bool) {
	if err := r.ParseForm(); err != nil {
		writeError(w, ErrBadData, fmt.Sprintf("error parsing form values: %v", err))
		return
	}
	req := QueryRequest{
		Query: r.FormValue("query"), Time: r.FormValue("time"), Start: r.FormValue("start"),
		End: r.FormValue("end"), Step: r.FormValue("step"), Timeout: r.FormValue("timeout"), Range: isRange,
	}
	status, body := s.Run(r.FormValue("engine"), req, r.FormValue("histograms") == "full")
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

type batchRequest struct {
	Engine     string         `json:"engine"`
	Histograms string         `json:"histograms"`
	Queries    []QueryRequest `json:"queries"`
	// Format "lines" answers one line per query (hostStats, a tab, the envelope) instead
	// of one JSON document, so a client decodes only the envelopes it needs.
	Format string `json:"format"`
	// Bodies "none" (lines format only): no envelopes at all; each answer's digest comes
	// from its value without JSON encoding (valueDigest), so it is comparable only with
	// digests of other "none" answers. A client asks again for the bodies it needs.
	Bodies string `json:"bodies"`
}

func (s *Server) handleBatch(w http.ResponseWriter, r *http.Request) {
	var req batchRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeError(w, ErrBadData, fmt.Sprintf("batch request JSON: %v", err))
		return
	}
	if _, err := s.engine(req.Engine); err != nil {
		writeError(w, ErrBadData, err.Error())
		return
	}
	if req.Format != "" && req.Format != "lines" {
		writeError(w, ErrBadData, fmt.Sprintf("batch format %q: expected \"lines\" or none", req.Format))
		return
	}
	if req.Bodies != "" && (req.Bodies != "none" || req.Format != "lines") {
		writeError(w, ErrBadData, fmt.Sprintf("batch bodies %q: expected \"none\" (with format \"lines\") or nothing", req.Bodies))
		return
	}
	full := req.Histograms == "full"
	var buf bytes.Buffer
	if req.Format == "lines" {
		for _, q := range req.Queries {
			q.DigestOnly = req.Bodies == "none"
			s.run(req.Engine, q, full).encodeLine(&buf, q.DigestOnly)
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write(buf.Bytes())
		return
	}
	buf.WriteString(`{"results":[`)
	for i, q := range req.Queries {
		if i > 0 {
			buf.WriteByte(',')
		}
		s.run(req.Engine, q, full).encode(&buf)
	}
	buf.WriteString("]}")
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(buf.Bytes())
}

type position struct {
	Start int `json:"start"`
	End   int `json:"end"`
}

func (s *Server) handleParse(w http.ResponseWriter, r *http.Request) {
	query := r.FormValue("query")
	var expr parser.Expr
	var err error
	func() {
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("parser panicked: %v", p)
			}
		}()
		expr, err = s.host.Parse(query)
	}()
	if err != nil {
		positions := []position{}
		var perrs parser.ParseErrors
		var perr *parser.ParseErr
		switch {
		case errors.As(err, &perrs):
			for _, e := range perrs {
				positions = append(positions, position{int(e.PositionRange.Start), int(e.PositionRange.End)})
			}
		case errors.As(err, &perr):
			positions = append(positions, position{int(perr.PositionRange.Start), int(perr.PositionRange.End)})
		}
		writeJSON(w, http.StatusBadRequest, map[string]any{
			"status": "error", "errorType": ErrBadData, "error": err.Error(), "positions": positions,
		})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"status": "success",
		"data":   map[string]string{"canonical": expr.String(), "type": string(expr.Type())},
	})
}

type functionJSON struct {
	Name         string   `json:"name"`
	ArgTypes     []string `json:"argTypes"`
	Variadic     int      `json:"variadic"`
	ReturnType   string   `json:"returnType"`
	Experimental bool     `json:"experimental"`
}

func (s *Server) handleFunctions(w http.ResponseWriter, _ *http.Request) {
	table := s.host.Functions
	if table == nil {
		table = parser.Functions
	}
	fns := make([]functionJSON, 0, len(table))
	for _, f := range table {
		args := make([]string, len(f.ArgTypes))
		for i, t := range f.ArgTypes {
			args[i] = string(t)
		}
		fns = append(fns, functionJSON{f.Name, args, f.Variadic, string(f.ReturnType), f.Experimental})
	}
	sort.Slice(fns, func(i, j int) bool { return fns[i].Name < fns[j].Name })
	aggs, ops := []string{}, []string{}
	experimentalAggs := []string{}
	for it, name := range parser.ItemTypeStr {
		switch {
		case it.IsAggregator():
			aggs = append(aggs, name)
			if it.IsExperimentalAggregator() {
				experimentalAggs = append(experimentalAggs, name)
			}
		case it.IsOperator() && it != parser.EQL_REGEX && it != parser.NEQ_REGEX && it != parser.AT:
			ops = append(ops, name)
		}
	}
	sort.Strings(aggs)
	sort.Strings(ops)
	sort.Strings(experimentalAggs)
	writeJSON(w, http.StatusOK, map[string]any{
		"status": "success",
		"data": map[string]any{
			"functions": fns, "aggregations": aggs, "experimentalAggregations": experimentalAggs,
			"binaryOperators": ops,
		},
	})
}

// ---------------------------------------------------------------------------- process

// ReadyLine is the JSON object a host prints on stdout once it listens.
type ReadyLine struct {
	Ready   bool              `json:"ready"`
	Addr    string            `json:"addr"`
	PID     int               `json:"pid"`
	Engines []string          `json:"engines"`
	Modules map[string]string `json:"modules"`
	Go      string            `json:"go"`
	// Configs is each engine's effective configuration (Engine.Config).
	Configs map[string]map[string]string `json:"configs"`
}

// Main runs the host process: flags --listen (default 127.0.0.1:0) and --exit-on-stdin-eof
// (default true), the ready line on stdout, logs on stderr, exit when stdin reaches EOF.
// It does not return.
func Main(h Host) { serve(h, os.Args[1:]) }

// MainWithOptions is Main for a host whose engines take --option KEY=VALUE settings
// (see Options): build gets them, and an error from build or from Options.Check (an
// option nobody read) exits with status 2 and a one-line message naming the host's
// known options.
func MainWithOptions(build func(*Options) (Host, error), known []string) {
	opts, rest, err := TakeOptions(os.Args[1:])
	if err == nil {
		var h Host
		h, err = build(opts)
		if err == nil {
			err = opts.Check(known)
		}
		if err == nil {
			serve(h, rest)
			return
		}
	}
	fmt.Fprintf(os.Stderr, "%s: %v\n", os.Args[0], err)
	os.Exit(2)
}

func serve(h Host, args []string) {
	fs := flag.NewFlagSet(os.Args[0], flag.ExitOnError)
	listen := fs.String("listen", "127.0.0.1:0", "address to listen on (port 0: the OS picks)")
	stdinExit := fs.Bool("exit-on-stdin-eof", true, "exit when stdin reaches EOF (the parent died or closed it)")
	_ = fs.Parse(args)

	srv, err := NewServer(h)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	ready, _ := json.Marshal(ReadyLine{
		Ready: true, Addr: ln.Addr().String(), PID: os.Getpid(),
		Engines: srv.EngineNames(), Modules: srv.Modules(), Go: runtime.Version(),
		Configs: srv.Configs(),
	})
	fmt.Fprintln(os.Stdout, string(ready))

	exit := func(code int) {
		_ = srv.Close()
		os.Exit(code)
	}
	if *stdinExit {
		go func() {
			_, _ = io.Copy(io.Discard, os.Stdin)
			fmt.Fprintln(os.Stderr, "hostkit: stdin closed, exiting")
			exit(0)
		}()
	}
	httpSrv := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	if err := httpSrv.Serve(ln); err != nil {
		fmt.Fprintln(os.Stderr, err)
		exit(1)
	}
}

// handleFreeMemory runs a garbage collection and returns freed memory to the OS, so a
// benchmark can measure a query's peak RSS without the load's garbage in the way.
func handleFreeMemory(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"status":"success","heapInuseBytes":%d,"heapReleasedBytes":%d}`, ms.HeapInuse, ms.HeapReleased)
}
