use super::generate::*;
use super::trace::*;
use super::*;
use std::path::Path;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!(
            "arcroute-workload-{}-{tag}-{n}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }

    fn write(&self, name: &str, text: &str) {
        std::fs::write(self.0.join(name), text).unwrap();
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const INV: &str = "HashFunction,HashApp,HashOwner,minute_1,minute_2,minute_3,minute_4\n\
                   fa,app1,o1,2,0,4,1\n\
                   fb,app2,o1,0,3,0,0\n\
                   fc,app1,o1,1,1,1,600\n";
const RUN_HEADER: &str = "HashFunction,HashApp,HashOwner,Count,Average,Minimum,Maximum,\
                          percentile_Average_0,percentile_Average_1,percentile_Average_25,\
                          percentile_Average_50,percentile_Average_75,percentile_Average_99,\
                          percentile_Average_100";
const RUN_ROWS: &str = "fa,app1,o1,7,40.5,10.0,100.0,10,11,20,30,40,90,100\n\
                        fb,app2,o1,3,1000,1000.0,1000.0,1000,1000,1000,1000,1000,1000,1000\n\
                        fc,app1,o1,603,300,5.0,500.0,5,6,100,200,300,400,500\n";
const MEM: &str = "HashApp,HashOwner,SampleCount,AverageAllocatedMb,AverageAllocatedMb_pct1\n\
                   app1,o1,10,300.4,250\n";
/// Counts of `INV` by [function][minute].
const COUNTS: [[u64; 4]; 3] = [[2, 0, 4, 1], [0, 3, 0, 0], [1, 1, 1, 600]];
/// p0 and p100 of `RUN_ROWS` by function.
const BOUNDS: [(u32, u32); 3] = [(10, 100), (1000, 1000), (5, 500)];

fn run_csv() -> String {
    format!("{RUN_HEADER}\n{RUN_ROWS}")
}

fn trace_dir(inv: &str, run: &str, mem: &str) -> TempDir {
    let dir = TempDir::new("trace");
    dir.write("t_inv.csv", inv);
    dir.write("t_run.csv", run);
    dir.write("t_mem.csv", mem);
    dir
}

fn load(
    inv: &str,
    run: &str,
    mem: &str,
    minutes: Range<u32>,
    arrivals: Arrivals,
    seed: u64,
) -> Result<Workload, WorkloadError> {
    let dir = trace_dir(inv, run, mem);
    load_trace(&dir.0, minutes, arrivals, seed)
}

fn tiny(minutes: Range<u32>, arrivals: Arrivals, seed: u64) -> Workload {
    load(INV, &run_csv(), MEM, minutes, arrivals, seed).unwrap()
}

/// Calls per [function][minute of the range].
fn count_by_minute(w: &Workload) -> Vec<Vec<u64>> {
    let mut counts = vec![vec![0; w.minutes as usize]; w.functions.len()];
    for c in &w.calls {
        counts[c.function as usize][(c.at_ms / MINUTE_MS) as usize] += 1;
    }
    counts
}

/// Sorted by time, ties by function; inside the range; totals agree.
fn assert_well_formed(w: &Workload) {
    for pair in w.calls.windows(2) {
        assert!(
            (pair[0].at_ms, pair[0].function) <= (pair[1].at_ms, pair[1].function),
            "{pair:?}"
        );
    }
    for c in &w.calls {
        assert!(c.at_ms < u64::from(w.minutes) * MINUTE_MS);
        assert!((c.function as usize) < w.functions.len());
        assert!(c.duration_ms >= 1);
    }
    let total: u64 = w.functions.iter().map(|f| f.total_calls).sum();
    assert_eq!(total, w.calls.len() as u64);
}

/// One of the tiny trace's three files, in the order `[inv, run, mem]`.
#[derive(Clone, Copy, Debug)]
enum File {
    Inv,
    Run,
    Mem,
}
use File::{Inv, Mem, Run};

/// A change that breaks one file of the tiny trace.
#[derive(Clone, Copy, Debug)]
enum Edit {
    /// Replaces `from`, which must occur in the file, by `to`.
    Replace(File, &'static str, &'static str),
    /// Adds text at the end of the file.
    Append(File, &'static str),
    /// Replaces the whole file.
    Set(File, &'static str),
    /// Keeps only the file's header line, without its line end.
    HeaderOnly(File),
}
use Edit::{Append, HeaderOnly, Replace, Set};

/// The tiny trace's `(inv, run, mem)` texts with `edit` made.
fn malformed(edit: Edit) -> (String, String, String) {
    let mut texts = [INV.to_owned(), run_csv(), MEM.to_owned()];
    let (Replace(file, ..) | Append(file, _) | Set(file, _) | HeaderOnly(file)) = edit;
    let text = &mut texts[file as usize];
    *text = match edit {
        Replace(_, from, to) => {
            assert!(text.contains(from), "{edit:?}: `{from}` is not in its file");
            text.replace(from, to)
        }
        Append(_, more) => format!("{text}{more}"),
        Set(_, whole) => whole.to_owned(),
        HeaderOnly(_) => text.lines().next().unwrap().to_owned(),
    };
    let [inv, run, mem] = texts;
    (inv, run, mem)
}

/// Where an error must point: file name suffix, line, column and a piece of its message.
type At = (&'static str, usize, usize, &'static str);

/// Loads the tiny trace (its whole range) with each case's edit and expects an error at the
/// case's place.
fn assert_malformed(cases: &[(Edit, At)]) {
    for (i, &(edit, at)) in cases.iter().enumerate() {
        let case = format!("case {i} {edit:?}");
        let (inv, run, mem) = malformed(edit);
        let Err(e) = load(&inv, &run, &mem, 0..4, Arrivals::Random, 1) else {
            panic!("{case}: malformed input must be an error");
        };
        assert_at(&case, &e, at);
    }
}

/// Expects `e` where `at` says; `case` names what was loaded, for the failure message.
fn assert_at(case: &str, e: &WorkloadError, (file_suffix, line, column, needle): At) {
    assert!(e.file.ends_with(file_suffix), "{case}: {e}");
    assert_eq!((e.line, e.column), (line, column), "{case}: {e}");
    assert!(e.message.contains(needle), "{case}: `{needle}` not in: {e}");
}

#[test]
fn tiny_trace_has_exact_counts_names_and_memory() {
    let w = tiny(0..4, Arrivals::Random, 7);
    assert_well_formed(&w);
    assert_eq!(w.minutes, 4);
    assert_eq!(w.calls.len(), 613);
    let names: Vec<&str> = w.functions.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["fa", "fb", "fc"]);
    let counts = count_by_minute(&w);
    for (f, expected) in COUNTS.iter().enumerate() {
        assert_eq!(counts[f], expected, "function {f}");
        assert_eq!(w.functions[f].total_calls, expected.iter().sum::<u64>());
    }
    // app1 has 300.4 MB (rounded); app2 has no mem.csv row: the 128 MB default.
    assert_eq!(w.functions[0].memory_mb, 300);
    assert_eq!(w.functions[1].memory_mb, 128);
    assert_eq!(w.functions[2].memory_mb, 300);
    let dir = trace_dir(INV, &run_csv(), MEM);
    let w = load_trace(&dir.0, 0..4, Arrivals::Random, 7).unwrap();
    assert_eq!(w.source, dir.0.display().to_string());
}

#[test]
fn sub_range_counts_and_times_are_relative_to_its_start() {
    let w = tiny(1..3, Arrivals::Random, 7);
    assert_well_formed(&w);
    assert_eq!(w.minutes, 2);
    let counts = count_by_minute(&w);
    for (f, expected) in COUNTS.iter().enumerate() {
        assert_eq!(counts[f], &expected[1..3], "function {f}");
        assert_eq!(
            w.functions[f].total_calls,
            expected[1..3].iter().sum::<u64>()
        );
    }
    // The same calls as minutes 1..3 of the whole range, shifted: draws go by absolute minute.
    let whole = tiny(0..4, Arrivals::Random, 7);
    let slice: Vec<Call> = whole
        .calls
        .iter()
        .filter(|c| (MINUTE_MS..3 * MINUTE_MS).contains(&c.at_ms))
        .map(|c| Call {
            at_ms: c.at_ms - MINUTE_MS,
            ..*c
        })
        .collect();
    assert_eq!(w.calls, slice);
}

#[test]
fn even_arrivals_are_exactly_spaced_and_centred() {
    let w = tiny(0..4, Arrivals::Even, 7);
    assert_well_formed(&w);
    let times = |f: u32, minute: u64| -> Vec<u64> {
        w.calls
            .iter()
            .filter(|c| c.function == f && c.at_ms / MINUTE_MS == minute)
            .map(|c| c.at_ms)
            .collect()
    };
    assert_eq!(times(0, 0), [15_000, 45_000]);
    assert_eq!(times(0, 2), [127_500, 142_500, 157_500, 172_500]);
    assert_eq!(times(0, 3), [210_000]);
    assert_eq!(times(1, 1), [70_000, 90_000, 110_000]);
    let many = times(2, 3);
    assert_eq!(many.len(), 600);
    assert_eq!(many[0], 180_050);
    assert!(many.windows(2).all(|p| p[1] - p[0] == 100));
    // Ties (fb and fc both at 90 000 ms) keep function order.
    let at: Vec<u32> = w
        .calls
        .iter()
        .filter(|c| c.at_ms == 90_000)
        .map(|c| c.function)
        .collect();
    assert_eq!(at, [1, 2]);
}

#[test]
fn random_arrivals_are_uniform_within_their_minute() {
    let w = tiny(3..4, Arrivals::Random, 11);
    let offsets: Vec<u64> = w
        .calls
        .iter()
        .filter(|c| c.function == 2)
        .map(|c| c.at_ms)
        .collect();
    assert_eq!(offsets.len(), 600);
    let mean = offsets.iter().sum::<u64>() as f64 / 600.0;
    assert!((27_000.0..33_000.0).contains(&mean), "mean {mean}"); // 4 standard errors
    let early = offsets.iter().filter(|&&t| t < 30_000).count();
    assert!((240..360).contains(&early), "{early} in the first half");
}

#[test]
fn durations_follow_the_percentiles() {
    for arrivals in [Arrivals::Random, Arrivals::Even] {
        let w = tiny(0..4, arrivals, 3);
        for c in &w.calls {
            let (lo, hi) = BOUNDS[c.function as usize];
            assert!((lo..=hi).contains(&c.duration_ms), "{c:?}");
        }
        assert!(w
            .calls
            .iter()
            .filter(|c| c.function == 1)
            .all(|c| c.duration_ms == 1000));
        // fc: 600+ draws with median 200: about half below it.
        let fc: Vec<u32> = w
            .calls
            .iter()
            .filter(|c| c.function == 2)
            .map(|c| c.duration_ms)
            .collect();
        let below = fc.iter().filter(|&&d| d < 200).count();
        assert!((250..353).contains(&below), "{below} of {}", fc.len());
    }
    let table = [10.0, 11.0, 20.0, 30.0, 40.0, 90.0, 100.0];
    assert_eq!(draw_duration(&table, 0.0), 10);
    assert_eq!(draw_duration(&table, 0.01), 11);
    assert_eq!(draw_duration(&table, 0.25), 20);
    assert_eq!(draw_duration(&table, 0.5), 30);
    assert_eq!(draw_duration(&table, 0.625), 35);
    assert_eq!(draw_duration(&table, 0.99), 90);
    assert_eq!(draw_duration(&table, 0.995), 95);
    assert_eq!(draw_duration(&table, 1.0 - f64::EPSILON), 100);
    assert_eq!(draw_duration(&[0.0; 7], 0.5), 1, "at least 1 ms");
}

#[test]
fn arrival_and_duration_draws_are_uncorrelated() {
    // fc's 600 calls in minute 3: offset in the minute against duration.
    let w = tiny(3..4, Arrivals::Random, 9);
    let pairs: Vec<(f64, f64)> = w
        .calls
        .iter()
        .filter(|c| c.function == 2)
        .map(|c| (c.at_ms as f64, f64::from(c.duration_ms)))
        .collect();
    let n = pairs.len() as f64;
    let (mx, my) = pairs
        .iter()
        .fold((0.0, 0.0), |(a, b), (x, y)| (a + x / n, b + y / n));
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (x, y) in &pairs {
        sxy += (x - mx) * (y - my);
        sxx += (x - mx) * (x - mx);
        syy += (y - my) * (y - my);
    }
    let r = sxy / (sxx * syy).sqrt();
    assert!(r.abs() < 0.2, "correlation {r}"); // 5 standard errors
}

#[test]
fn durations_do_not_depend_on_the_arrival_mode() {
    let key = |w: &Workload| {
        let mut v: Vec<(u64, u32, u32)> = w
            .calls
            .iter()
            .map(|c| (c.at_ms / MINUTE_MS, c.function, c.duration_ms))
            .collect();
        v.sort_unstable();
        v
    };
    assert_eq!(
        key(&tiny(0..4, Arrivals::Random, 5)),
        key(&tiny(0..4, Arrivals::Even, 5))
    );
}

#[test]
fn same_seed_same_workload_other_seed_other_times() {
    let a = tiny(0..4, Arrivals::Random, 42);
    let again = tiny(0..4, Arrivals::Random, 42); // from another temp directory
    assert_eq!(a.functions, again.functions);
    assert!(a.calls == again.calls, "same seed, different calls");
    let b = tiny(0..4, Arrivals::Random, 43);
    assert_eq!(count_by_minute(&a), count_by_minute(&b));
    let times = |w: &Workload| w.calls.iter().map(|c| c.at_ms).collect::<Vec<_>>();
    assert_ne!(times(&a), times(&b));
    let durations = |w: &Workload| w.calls.iter().map(|c| c.duration_ms).collect::<Vec<_>>();
    assert_ne!(durations(&a), durations(&b));
}

#[test]
fn public_dataset_header_crlf_and_blank_lines_are_accepted() {
    // Original layout: a Trigger column and plain minute numbers; columns in another order;
    // CRLF line ends, a byte-order mark, a blank line, spaces and a whole count written `1.0`.
    let inv = "\u{feff}HashOwner,HashApp,HashFunction,Trigger,1,2,3,4\r\n\
               o1,app1,fa,http,2,0,4,1.0\r\n\
               \r\n\
               o1, app2 ,fb,timer,0,3,0,0\r\n\
               o1,app1,fc,queue,1,1,1,600\r\n";
    let w = load(inv, &run_csv(), MEM, 0..4, Arrivals::Random, 7).unwrap();
    assert_eq!(w, tiny(0..4, Arrivals::Random, 7).with_source(&w.source));
}

impl Workload {
    fn with_source(mut self, source: &str) -> Self {
        self.source = source.to_owned();
        self
    }
}

#[test]
fn bad_numbers_report_file_line_and_column() {
    assert_malformed(&[
        (
            Replace(Inv, "fb,app2,o1,0,3", "fb,app2,o1,0,x3"),
            ("t_inv.csv", 3, 5, "`x3` is not a number"),
        ),
        (
            Replace(Inv, "fc,app1,o1,1,1,1,600", "fc,app1,o1,1,1,-1,600"),
            ("t_inv.csv", 4, 6, "negative"),
        ),
        (
            Replace(Inv, "fa,app1,o1,2,0", "fa,app1,o1,2.5,0"),
            ("t_inv.csv", 2, 4, "whole number"),
        ),
        (
            Replace(Inv, "fa,app1,o1,2,0", "fa,app1,o1,,0"),
            ("t_inv.csv", 2, 4, "empty field"),
        ),
        (
            Replace(Inv, "fa,app1,o1,2,0", "fa,app1,o1,NaN,0"),
            ("t_inv.csv", 2, 4, "finite"),
        ),
        (
            Replace(
                Run,
                "1000,1000,1000,1000,1000,1000,1000",
                "1000,1000,1000,1000,1000,1000,1e400",
            ),
            ("t_run.csv", 3, 14, "finite"),
        ),
        (
            Replace(Run, "10,11,20,30,40,90,100", "10,11,20,30,-40,90,100"),
            ("t_run.csv", 2, 12, "negative"),
        ),
        (
            Replace(Mem, "300.4", "lots"),
            ("t_mem.csv", 2, 4, "not a number"),
        ),
    ]);
    // An error in a minute outside the range still counts: the file is malformed.
    let inv = INV.replace("fb,app2,o1,0,3,0,0", "fb,app2,o1,0,3,0,zero");
    let e = load(&inv, &run_csv(), MEM, 0..2, Arrivals::Random, 1).unwrap_err();
    assert_at(
        "minute 3 outside 0..2",
        &e,
        ("t_inv.csv", 3, 7, "not a number"),
    );
    assert_eq!(
        e.to_string(),
        format!("{}:3:7: `zero` is not a number", e.file)
    );
}

#[test]
fn short_and_long_rows_report_the_first_missing_or_extra_field() {
    assert_malformed(&[
        (
            Replace(Inv, "fb,app2,o1,0,3,0,0", "fb,app2,o1,0,3"),
            ("t_inv.csv", 3, 6, "expected 7 fields"),
        ),
        (
            Replace(Inv, "fb,app2,o1,0,3,0,0", "fb,app2,o1,0,3,0,0,9"),
            ("t_inv.csv", 3, 8, "found 8"),
        ),
        (
            Replace(Run, "fb,app2,o1,3,1000,1000.0,", "fb,app2,o1,3,1000,"),
            ("t_run.csv", 3, 14, "expected 14 fields"),
        ),
        (
            Append(Mem, "app3\n"),
            ("t_mem.csv", 3, 2, "expected 5 fields"),
        ),
    ]);
}

#[test]
fn missing_or_bad_header_columns_are_errors() {
    assert_malformed(&[
        (
            Replace(Inv, "HashApp,", "App,"),
            ("t_inv.csv", 1, 1, "no `HashApp` column"),
        ),
        (
            Replace(Inv, "minute_1,", "m1,"),
            ("t_inv.csv", 1, 1, "first minute column"),
        ),
        (
            Replace(Inv, "minute_3", "minute_33"),
            ("t_inv.csv", 1, 6, "expected minute column `minute_3`"),
        ),
        (
            Replace(Inv, "HashOwner", "HashFunction"),
            ("t_inv.csv", 1, 3, "repeats column `HashFunction`"),
        ),
        (
            Replace(Run, "percentile_Average_99,", "percentile_Average_98,"),
            ("t_run.csv", 1, 1, "no `percentile_Average_99` column"),
        ),
        // Blank lines before the header count in its line number.
        (
            Replace(Inv, "HashFunction,HashApp,", "\n\r\nHashFunction,App,"),
            ("t_inv.csv", 3, 1, "no `HashApp` column"),
        ),
        (
            Replace(Mem, "AverageAllocatedMb,", "Mb,"),
            ("t_mem.csv", 1, 1, "no `AverageAllocatedMb` column"),
        ),
    ]);
}

#[test]
fn empty_files_and_header_only_inv_are_errors() {
    assert_malformed(&[
        (Set(Inv, ""), ("t_inv.csv", 1, 1, "empty file")),
        (Set(Run, "\n\r\n"), ("t_run.csv", 1, 1, "empty file")),
        (Set(Mem, ""), ("t_mem.csv", 1, 1, "empty file")),
        (HeaderOnly(Inv), ("t_inv.csv", 2, 1, "no function rows")),
    ]);
    // An empty mem.csv body is fine: every app gets the default.
    let mem_header = MEM.lines().next().unwrap();
    let w = load(INV, &run_csv(), mem_header, 0..4, Arrivals::Even, 1).unwrap();
    assert!(w.functions.iter().all(|f| f.memory_mb == DEFAULT_MEMORY_MB));
}

#[test]
fn missing_run_row_and_duplicates_are_errors() {
    assert_malformed(&[
        (
            Append(Inv, "fd,app3,o1,0,0,0,0\n"),
            ("t_inv.csv", 5, 1, "`fd` has no row in"),
        ),
        (
            Append(Inv, "fb,app3,o1,0,0,0,0\n"),
            (
                "t_inv.csv",
                5,
                1,
                "duplicate function `fb` (first on line 3)",
            ),
        ),
        (
            Append(Run, "fa,app1,o1,7,40.5,10.0,100.0,10,11,20,30,40,90,100\n"),
            ("t_run.csv", 5, 1, "duplicate function `fa`"),
        ),
        (
            Append(Mem, "app1,o1,10,200,250\n"),
            ("t_mem.csv", 3, 1, "duplicate app `app1`"),
        ),
        (
            Replace(Run, "10,11,20,30,40,90,100", "10,11,20,30,25,90,100"),
            ("t_run.csv", 2, 12, "is below percentile_Average_50"),
        ),
    ]);
}

#[test]
fn bad_ranges_files_and_encodings_are_errors() {
    let e = load(INV, &run_csv(), MEM, 0..5, Arrivals::Random, 1).unwrap_err();
    assert_at(
        "range 0..5",
        &e,
        ("t_inv.csv", 1, 7, "reaches past the trace's 4 minutes"),
    );
    #[allow(clippy::reversed_empty_ranges)]
    for range in [2..2, 3..1] {
        let e = load(INV, &run_csv(), MEM, range, Arrivals::Random, 1).unwrap_err();
        assert_eq!((e.line, e.column), (0, 0));
        assert!(e.message.contains("empty minute range"), "{e}");
    }
    let mut bytes = INV.as_bytes().to_vec();
    let at = INV.find("fb,app2,o1,0,3").unwrap() + "fb,app2,o1,0,".len();
    bytes[at] = 0xff;
    let dir = trace_dir("", &run_csv(), MEM);
    std::fs::write(dir.0.join("t_inv.csv"), &bytes).unwrap();
    let e = load_trace(&dir.0, 0..4, Arrivals::Random, 1).unwrap_err();
    assert_at("byte 0xff", &e, ("t_inv.csv", 3, 5, "invalid UTF-8"));

    dir.write("u_inv.csv", INV);
    let e = load_trace(&dir.0, 0..4, Arrivals::Random, 1).unwrap_err();
    assert!(e.message.contains("2 files end with `inv.csv`"), "{e}");
    std::fs::remove_file(dir.0.join("u_inv.csv")).unwrap();
    std::fs::remove_file(dir.0.join("t_mem.csv")).unwrap();
    let e = load_trace(&dir.0, 0..4, Arrivals::Random, 1).unwrap_err();
    assert!(
        e.message.contains("no file whose name ends with `mem.csv`"),
        "{e}"
    );
    let e = load_trace(&dir.0.join("absent"), 0..4, Arrivals::Random, 1).unwrap_err();
    assert!(e.message.contains("cannot list directory"), "{e}");
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

    /// Garbage under valid headers, or garbage throughout: an error or a sound workload,
    /// never a panic.
    #[test]
    fn no_input_panics(
        inv_rows in "([a-c0-9,.\\- \r]{0,20}\n){0,4}",
        run_rows in "([a-c0-9,.\\- \r]{0,40}\n){0,4}",
        mem_rows in "([a-c0-9,.\\- \r]{0,20}\n){0,4}",
        raw in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64),
        which in 0usize..4,
        start in 0u32..6,
        len in 0u32..6,
    ) {
        let mut files = [
            format!("HashFunction,HashApp,minute_1,minute_2,minute_3\n{inv_rows}").into_bytes(),
            format!("HashFunction,{}\n{run_rows}", PCT_COLUMNS.join(",")).into_bytes(),
            format!("HashApp,AverageAllocatedMb\n{mem_rows}").into_bytes(),
        ];
        if which < 3 {
            files[which] = raw;
        }
        let file = |i: usize| TraceFile { name: format!("f{i}"), bytes: &files[i] };
        if let Ok(w) = parse_trace(file(0), file(1), file(2), start..start + len, Arrivals::Random, 1, "p".into()) {
            assert_well_formed(&w);
        }
    }
}

#[test]
fn generate_is_deterministic_and_sized() {
    let a = generate(480..600, Arrivals::Random, 1);
    assert_well_formed(&a);
    assert_eq!(a, generate(480..600, Arrivals::Random, 1));
    assert_eq!(a.source, "generated (seed 1)");
    assert_eq!(a.minutes, 120);
    assert_eq!(a.functions.len(), GEN_FUNCTIONS);
    for seed in [1, 2, 3, 1234] {
        let n = generate(480..600, Arrivals::Even, seed).calls.len();
        assert!(
            (100_000..=200_000).contains(&n),
            "seed {seed}: {n} calls in 480..600"
        );
    }
    let b = generate(480..600, Arrivals::Random, 2);
    assert_ne!(a.calls, b.calls);
    let mut names: Vec<&str> = a.functions.iter().map(|f| f.name.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), GEN_FUNCTIONS);
    assert!(a
        .functions
        .iter()
        .all(|f| (128..=1536).contains(&f.memory_mb)));
    // Clamped ranges.
    let w = generate(1400..2000, Arrivals::Random, 1);
    assert_eq!(w.minutes, 40);
    assert!(w.calls.iter().all(|c| c.at_ms < 40 * MINUTE_MS));
    let w = generate(1500..1600, Arrivals::Random, 1);
    assert_eq!(
        (w.minutes, w.calls.len(), w.functions.len()),
        (0, 0, GEN_FUNCTIONS)
    );
}

#[test]
fn generated_models_have_the_promised_durations() {
    for seed in 0..20 {
        let models = generate_models(seed);
        assert_eq!(
            models
                .iter()
                .filter(|m| matches!(m.kind, Kind::Timer { .. }))
                .count(),
            GEN_TIMERS
        );
        assert_eq!(
            models
                .iter()
                .filter(|m| matches!(m.kind, Kind::Bursty))
                .count(),
            GEN_BURSTY
        );
        for m in &models {
            let d = m.durations;
            assert!(d.windows(2).all(|p| p[0] <= p[1]) && d[0] >= 1.0, "{d:?}");
            assert!((50.0..=10_000.0).contains(&d[3]), "median {}", d[3]);
            assert!(d[5] >= 1.5 * d[3] && d[6] >= 1.5 * d[5], "tail {d:?}");
            assert!((0.4..=0.6).contains(&m.amplitude));
        }
        let medians: Vec<f64> = models.iter().map(|m| m.durations[3]).collect();
        assert!(medians.iter().any(|&x| x < 200.0) && medians.iter().any(|&x| x > 3000.0));
    }
    assert!((inverse_normal(0.975) - 1.959_964).abs() < 2e-5);
    assert!((inverse_normal(0.01) + 2.326_348).abs() < 2e-5);
    assert!((inverse_normal(0.999) - 3.090_232).abs() < 2e-5);
    assert!(inverse_normal(0.5).abs() < 1e-12);
}

#[test]
fn generated_day_is_heavy_tailed_diurnal_and_periodic() {
    let day = generate(0..1440, Arrivals::Random, 1);
    assert_well_formed(&day);
    let n = day.calls.len();
    assert!((1_000_000..=2_000_000).contains(&n), "{n} calls a day");
    // A range is the day's calls in it, shifted.
    let part = generate(480..600, Arrivals::Random, 1);
    let slice: Vec<Call> = day
        .calls
        .iter()
        .filter(|c| (480 * MINUTE_MS..600 * MINUTE_MS).contains(&c.at_ms))
        .map(|c| Call {
            at_ms: c.at_ms - 480 * MINUTE_MS,
            ..*c
        })
        .collect();
    assert_eq!(part.calls, slice);

    // Popularity: about 5 orders of magnitude; the top 5 functions carry most calls.
    let mut totals: Vec<u64> = day.functions.iter().map(|f| f.total_calls).collect();
    totals.sort_unstable();
    assert!(
        totals[0] >= 1 && totals[0] <= 30,
        "least popular: {}",
        totals[0]
    );
    assert!(
        totals[totals.len() - 1] >= 200_000,
        "most popular: {}",
        totals[totals.len() - 1]
    );
    let top5: u64 = totals[totals.len() - 5..].iter().sum();
    assert!(top5 * 2 > n as u64, "top 5 carry {top5} of {n}");

    // Diurnal: the hour around noon well above the hour around midnight.
    let hour = |h: u64| {
        day.calls
            .iter()
            .filter(|c| c.at_ms / 3_600_000 == h)
            .count()
    };
    let (noon, night) = (hour(11) + hour(12), hour(23) + hour(0));
    assert!(noon > 2 * night, "noon {noon}, night {night}");

    // Timers: calls only in minutes of one residue class of their period, the same number each.
    let mut per_minute = vec![vec![0u32; 1440]; day.functions.len()];
    for c in &day.calls {
        per_minute[c.function as usize][(c.at_ms / MINUTE_MS) as usize] += 1;
    }
    let mut timers = 0;
    for (f, function) in day.functions.iter().enumerate() {
        let Some(period) = function.name.split("-timer").nth(1) else {
            continue;
        };
        let period: usize = period.trim_end_matches('m').parse().unwrap();
        timers += 1;
        let fired: Vec<usize> = (0..1440).filter(|&m| per_minute[f][m] > 0).collect();
        assert_eq!(fired.len(), 1440 / period, "{}", function.name);
        assert!(
            fired.iter().all(|m| m % period == fired[0] % period),
            "{}",
            function.name
        );
        assert!(fired
            .iter()
            .all(|&m| per_minute[f][m] == per_minute[f][fired[0]]));
    }
    assert_eq!(timers, GEN_TIMERS);

    // Bursty functions have minutes at 5x their mean or more.
    let bursts = day
        .functions
        .iter()
        .enumerate()
        .filter(|(_, fun)| fun.name.ends_with("bursty") && fun.total_calls >= 1440 * 5)
        .filter(|(f, fun)| {
            per_minute[*f]
                .iter()
                .any(|&c| u64::from(c) * 1440 >= 5 * fun.total_calls)
        })
        .count();
    assert!(bursts >= 3, "{bursts} bursty functions with bursts");
}

#[test]
fn shipped_azure_sample_loads_whole_day() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/azure2019");
    assert!(
        dir.is_dir(),
        "the Azure 2019 sample is missing from {}",
        dir.display()
    );
    let w = load_trace(&dir, 0..DAY_MINUTES, Arrivals::Random, 1).unwrap();
    assert_well_formed(&w);
    assert_eq!(w.functions.len(), 200);
    assert_eq!(w.minutes, 1440);
    assert!(
        (1_600_000..1_640_000).contains(&w.calls.len()),
        "{} calls",
        w.calls.len()
    );
    assert!(w.functions.iter().all(|f| f.memory_mb >= 1));
    assert_eq!(w.source, dir.display().to_string());
}
