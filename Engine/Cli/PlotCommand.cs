using System.Text.Json.Nodes;
using CommandLine;
using Engine.Training;

namespace Engine.Cli;

[Verb("plot", HelpText = "PNG of one metric from several runs' metrics.jsonl (ablations side by side).")]
sealed class PlotOptions : VerbOptions
{
    [Option("runs", Required = true, Separator = ',', HelpText = "Run folders (or metrics.jsonl files), comma-separated.")]
    public IEnumerable<string> Runs { get; set; } = [];
    [Option("labels", Separator = ',', HelpText = "A label per run (default: the folder names).")]
    public IEnumerable<string> Labels { get; set; } = [];
    [Option("metric", Required = true, HelpText = "The metric to plot, e.g. accuracy, entropy, completion_length/mean.")]
    public string Metric { get; set; } = "";
    [Option("right-metric", HelpText = "A second metric of each run on a right-hand axis, dashed (e.g. accuracy " +
        "beside completion_length/mean).")]
    public string? RightMetric { get; set; }
    [Option("title", HelpText = "Plot title.")]
    public string? Title { get; set; }
    [Option("out", Required = true, HelpText = "PNG path.")]
    public string Out { get; set; } = "";
}

static class PlotCommand
{
    public static int Run(PlotOptions o)
    {
        var runs = o.Runs.ToList();
        var labels = o.Labels.ToList();
        if (labels.Count != 0 && labels.Count != runs.Count)
            throw new ArgumentException($"plot: {labels.Count} labels for {runs.Count} runs");
        var series = new List<(string Label, IReadOnlyList<Dictionary<string, object>> Rows)>();
        for (int i = 0; i < runs.Count; i++)
        {
            string path = Directory.Exists(runs[i]) ? Path.Combine(runs[i], "metrics.jsonl") : runs[i];
            if (!File.Exists(path)) throw new ArgumentException($"plot: {path}: no such file");
            var rows = RunFolder.ReadMetrics(path).Select(row => row.ToDictionary(kv => kv.Key,
                kv => kv.Value is JsonValue v && v.TryGetValue(out double d) ? (object)d : kv.Value?.ToString() ?? "")).ToList();
            foreach (var metric in new[] { o.Metric, o.RightMetric }.OfType<string>())
                if (!rows.Any(r => r.ContainsKey(metric))) throw new ArgumentException($"plot: {path} has no metric '{metric}'");
            series.Add((labels.Count > 0 ? labels[i] : Path.GetFileName(Path.GetDirectoryName(Path.GetFullPath(path))) ?? path, rows));
        }
        Curves.SaveComparison(o.Out, o.Title ?? o.Metric, o.Metric, series, rightMetric: o.RightMetric);
        Console.WriteLine($"plot: wrote {o.Out}");
        return 0;
    }
}
