package protocol

// The lessons: the page asks the relay to run a scenario (package scenarios) with
//
//	{"v":1,"type":"scenario","id":14,"scenario":{"name":"handshake","seed":1}}
//
// and receives an EventScenario carrying the ScenarioReport — the same report `wireplay run NAME
// --format json` prints. The welcome event lists the scenarios.

// TypeScenario asks the relay to run one scenario on an emulated link of its own.
const TypeScenario = "scenario"

// EventScenario carries a scenario's report (or, with Error set, why it failed).
const EventScenario = "scenario"

// ScenarioRequest names a scenario and how to run it.
type ScenarioRequest struct {
	Name string `json:"name"`
	// Preset names a link preset; "" is the scenario's own. Up and Down, when set, replace the
	// preset's directions.
	Preset string      `json:"preset,omitempty"`
	Up     *Impairment `json:"up,omitempty"`
	Down   *Impairment `json:"down,omitempty"`
	Seed   int64       `json:"seed,omitempty"`
	Repeat int         `json:"repeat,omitempty"`
	// Params override the scenario's parameters by name.
	Params map[string]string `json:"params,omitempty"`
}

// ScenarioInfo describes one scenario for a lessons menu.
type ScenarioInfo struct {
	Name    string      `json:"name"`
	Title   string      `json:"title"`
	Summary string      `json:"summary"`
	Explain string      `json:"explain"`
	Preset  string      `json:"preset"`
	Params  []ParamInfo `json:"params,omitempty"`
}

// ParamInfo is one scenario parameter and its default.
type ParamInfo struct {
	Name    string `json:"name"`
	Default string `json:"default"`
	Help    string `json:"help"`
}

// ScenarioResult is what one run of a scenario measured.
type ScenarioResult struct {
	Metrics []Metric `json:"metrics"`
	Series  []Series `json:"series,omitempty"`
	// Tables hold numbers best read as a table (e.g. what each read returned).
	Tables []Table `json:"tables,omitempty"`
	// Conclusion states what this run measured, built from its numbers.
	Conclusion string `json:"conclusion"`
}

// Metric is one measured number.
type Metric struct {
	Transport string  `json:"transport"` // "tcp", "tcp+tls", "quic", …; "" for the link itself
	Name      string  `json:"name"`      // "first_byte_ms"
	Unit      string  `json:"unit"`      // "ms", "RTT", "bytes", "count", "Mbit/s"
	Value     float64 `json:"value"`
}

// Series is one line (or set of points) of a chart.
type Series struct {
	Chart  string  `json:"chart"`   // the chart it belongs to, also its title: "Goodput vs loss"
	Name   string  `json:"name"`    // legend: "tcp"
	XLabel string  `json:"x_label"` // "loss %"
	YLabel string  `json:"y_label"` // "Mbit/s"
	Points []Point `json:"points"`
	// Style is "line" (default), "dots", or "dashed" (a reference curve such as the Mathis bound).
	Style string `json:"style,omitempty"`
}

// Point is one (x, y) of a Series.
type Point struct {
	X float64 `json:"x"`
	Y float64 `json:"y"`
}

// Table is a titled grid.
type Table struct {
	Title   string     `json:"title"`
	Columns []string   `json:"columns"`
	Rows    [][]string `json:"rows"`
}

// ScenarioReport is a scenario's runs and their statistics.
type ScenarioReport struct {
	Scenario string            `json:"scenario"`
	Title    string            `json:"title"`
	Explain  string            `json:"explain,omitempty"`
	Preset   string            `json:"preset"`
	Up       string            `json:"up"`   // the client→server impairment, in words
	Down     string            `json:"down"` // the server→client impairment, in words
	Seed     int64             `json:"seed"`
	Repeat   int               `json:"repeat"`
	Params   map[string]string `json:"params"`
	Runs     []*ScenarioResult `json:"runs"`
	Stats    []Stat            `json:"stats"`
	// Conclusion is the first run's, followed by the spread when there were repeats.
	Conclusion string   `json:"conclusion"`
	WallMillis float64  `json:"wall_ms"`
	Files      []string `json:"files,omitempty"`
}

// Stat summarizes one metric over a report's runs.
type Stat struct {
	Transport string  `json:"transport"`
	Name      string  `json:"name"`
	Unit      string  `json:"unit"`
	N         int     `json:"n"`
	Mean      float64 `json:"mean"`
	// CI95 is the half-width of the 95% confidence interval of the mean (Student's t); 0 for one run.
	CI95 float64 `json:"ci95"`
	Min  float64 `json:"min"`
	Max  float64 `json:"max"`
}
