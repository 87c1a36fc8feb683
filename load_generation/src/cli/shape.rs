//! `loadgen shape`'s flags: what to read (a subcommand per kind of input), and
//! how to fit it to the run (flags every kind shares).

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};

#[derive(Debug, Clone, Args)]
pub struct ShapeArgs {
    #[command(subcommand)]
    pub source: ShapeSource,
    #[command(flatten)]
    pub fit: FitArgs,
}

#[derive(Debug, Clone, Subcommand)]
pub enum ShapeSource {
    /// A time series as CSV: `timestamp,value` with a header, or
    /// `timestamp,TypeA,TypeB,...` (one user type per value column).
    Csv(CsvArgs),
    /// A Prometheus range query's answer (the JSON of /api/v1/query_range):
    /// one series, or one user type per value of a label.
    Prometheus(PrometheusArgs),
    /// Access logs: Common or Combined Log Format (Apache, nginx), or JSON
    /// lines; requests counted per interval, split into types by path.
    Log(LogArgs),
    /// A made-up week (or day, or month): a daily cycle, a weekend factor and
    /// holidays, from a few numbers.
    Curve(CurveArgs),
}

/// How the recorded traffic becomes the run's phases.
#[derive(Debug, Clone, Args)]
pub struct FitArgs {
    /// How long the run lasts: the whole window played in this time (`10m`,
    /// `1h`, `300s`). Default: as long as it happened (or see --speed).
    #[arg(long, global = true, value_name = "TIME", conflicts_with = "speed")]
    pub duration: Option<String>,
    /// Source time per second of the run: 144 plays a day in ten minutes.
    #[arg(long, global = true, value_name = "FACTOR")]
    pub speed: Option<f64>,
    /// Scale the rates so the highest point is this many requests per second.
    #[arg(
        long,
        global = true,
        value_name = "REQ_PER_S",
        conflicts_with = "scale"
    )]
    pub peak: Option<f64>,
    /// Scale the rates by this factor (default 1: the source's own rates).
    #[arg(long, global = true, value_name = "FACTOR")]
    pub scale: Option<f64>,
    /// Start of the window of the input to play (any time form the input
    /// takes, e.g. 2025-11-24T00:00:00Z). Default: the data's start.
    #[arg(long, global = true, value_name = "TIME")]
    pub from: Option<String>,
    /// End of the window (exclusive). Default: the data's end.
    #[arg(long, global = true, value_name = "TIME")]
    pub to: Option<String>,
    /// How far a phase may stray from the curve: a share of its highest point
    /// (`5%`) or requests per second (`2.5`). Fewer phases the looser it is.
    #[arg(long, global = true, value_name = "TOLERANCE", default_value = "5%")]
    pub tolerance: String,
    /// The UTC offset of times written without one (`+01:00`); also the
    /// offset phases are named in. Default: UTC, or a log's own offset.
    #[arg(long, global = true, value_name = "OFFSET")]
    pub timezone: Option<String>,
    /// The user type of traffic that is not split into types.
    #[arg(
        long = "user-type",
        global = true,
        value_name = "NAME",
        default_value = "Normal"
    )]
    pub user_type: String,
    /// Also write the traffic as read to this CSV file (each interval's start
    /// and its requests per type), to check or plot what was counted.
    #[arg(long, global = true, value_name = "FILE")]
    pub series: Option<PathBuf>,
    /// Write the load.pbtxt here (default: standard output).
    #[arg(short, long, global = true, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ValuesArg {
    /// Requests per interval.
    Count,
    /// Requests per second.
    Rate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GapsArg {
    /// Missing data: joined by a line from the values on either side.
    Bridge,
    /// No traffic.
    Zero,
}

#[derive(Debug, Clone, Args)]
pub struct CsvArgs {
    /// The CSV file.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Whether the values are counts per interval or rates per second.
    #[arg(long, value_enum, default_value = "count")]
    pub values: ValuesArg,
    /// What an interval without a row (or with an empty value) means.
    #[arg(long, value_enum, default_value = "bridge")]
    pub gaps: GapsArg,
}

#[derive(Debug, Clone, Args)]
pub struct PrometheusArgs {
    /// The saved answer: `curl -s 'http://PROMETHEUS/api/v1/query_range?query=...&start=...&end=...&step=60' > FILE`.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// The label whose values name the user types (default: the one label
    /// that tells the series apart).
    #[arg(long, value_name = "LABEL")]
    pub label: Option<String>,
    /// Whether the values are rates (`rate(...)`) or counts per step (`increase(...)`).
    #[arg(long, value_enum, default_value = "rate")]
    pub values: ValuesArg,
    /// What a missing or NaN point means.
    #[arg(long, value_enum, default_value = "bridge")]
    pub gaps: GapsArg,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormatArg {
    /// JSON lines if the first line starts with `{`, else CLF.
    Auto,
    /// Common or Combined Log Format.
    Clf,
    /// JSON lines.
    Json,
}

#[derive(Debug, Clone, Args)]
pub struct LogArgs {
    /// The log files (`-`: standard input, e.g. `zcat access.log.*.gz | loadgen shape log -`).
    #[arg(value_name = "FILE", required = true)]
    pub files: Vec<PathBuf>,
    #[arg(long, value_enum, default_value = "auto")]
    pub format: LogFormatArg,
    /// Requests are counted per interval of this length.
    #[arg(long, value_name = "TIME", default_value = "1m")]
    pub bin: String,
    /// A user type for requests whose path matches a regular expression:
    /// `--type 'Browse=^/product/'`. Tried in order; the first match wins.
    #[arg(long = "type", value_name = "NAME=REGEX")]
    pub types: Vec<String>,
    /// The type of requests no --type matches; `drop` leaves them out.
    /// Default: --user-type.
    #[arg(long, value_name = "NAME|drop")]
    pub unmatched: Option<String>,
    /// Any line that is not a log line is an error (default: counted, the
    /// first few shown, and left out).
    #[arg(long)]
    pub strict: bool,
    /// JSON lines: the field with the time (default: time, timestamp, @timestamp, ts...).
    #[arg(long = "time-field", value_name = "FIELD")]
    pub time_field: Option<String>,
    /// JSON lines: the field with the path (default: path, uri, request_uri, url, request).
    #[arg(long = "path-field", value_name = "FIELD")]
    pub path_field: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct CurveArgs {
    /// How many days the curve covers.
    #[arg(long, default_value_t = 7.0)]
    pub days: f64,
    /// The local midnight it starts at (its weekday decides the weekend):
    /// `2025-11-24`, or with an offset via --timezone.
    #[arg(long, value_name = "DATE", default_value = "2025-11-24")]
    pub start: String,
    /// The quietest moment of a day, as a share of the day's peak (0 to 1).
    #[arg(long, default_value_t = 0.2)]
    pub trough: f64,
    /// The local hour of the daily peak (14.5: 14:30).
    #[arg(long = "peak-hour", default_value_t = 14.0)]
    pub peak_hour: f64,
    /// The length of one cycle (a day; `12h` gives two peaks a day).
    #[arg(long, value_name = "TIME", default_value = "24h")]
    pub period: String,
    /// Saturday's and Sunday's traffic against a weekday's (1.6: 60% more).
    #[arg(long, default_value_t = 1.0)]
    pub weekend: f64,
    /// A day with traffic of its own: `2025-11-27=3` (three times a weekday).
    #[arg(long, value_name = "DATE=FACTOR")]
    pub holiday: Vec<String>,
    /// A point every so often.
    #[arg(long, value_name = "TIME", default_value = "10m")]
    pub step: String,
    /// The user type of the traffic a weekend adds.
    #[arg(long = "weekend-type", value_name = "NAME", default_value = "Weekend")]
    pub weekend_type: String,
    /// The user type of the traffic a holiday adds.
    #[arg(long = "holiday-type", value_name = "NAME", default_value = "Holiday")]
    pub holiday_type: String,
}
