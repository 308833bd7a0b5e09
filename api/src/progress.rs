//! Progress bars on a terminal, drawn from the libraries' progress callbacks.
use indicatif::{ProgressBar, ProgressStyle};

pub struct Bar(pub ProgressBar);

impl Bar {
    /// A spinner with a row count; draws only when stderr is a terminal.
    pub fn rows() -> Bar {
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} {human_pos} rows ({per_sec}) {wide_msg}")
                .expect("valid template"),
        );
        bar.enable_steady_tick(std::time::Duration::from_millis(200));
        Bar(bar)
    }

    pub fn finish(&self) {
        self.0.finish_and_clear();
    }
}

impl ingest::Progress for Bar {
    fn rows(&self, n: u64) {
        self.0.inc(n);
    }

    fn message(&self, text: &str) {
        self.0.set_message(text.to_string());
    }

    fn partition_swapped(&self, table: &str, partition: &str) {
        self.0.set_message(format!("{table}: swapped {partition}"));
    }
}
