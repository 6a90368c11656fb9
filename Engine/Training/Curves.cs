using Engine.Distributed;

namespace Engine.Training;

/// <summary>PNG curves of logged metrics (ScottPlot), written next to metrics.jsonl at the end of a run.</summary>
public static class Curves
{
    /// <summary>One PNG with a line per metric over the steps (a moving average over `smooth` steps drawn on top).</summary>
    public static void Save(string path, string title, IReadOnlyList<Dictionary<string, object>> rows, string[] metrics, int smooth = 10)
    {
        var plt = new ScottPlot.Plot();
        double[] steps = rows.Select(r => Convert.ToDouble(r["step"])).ToArray();
        foreach (var name in metrics)
        {
            var ys = rows.Select(r => r.TryGetValue(name, out var v) ? Convert.ToDouble(v) : double.NaN).ToArray();
            var raw = plt.Add.Scatter(steps, ys);
            raw.LegendText = name;
            raw.MarkerSize = 0;
            raw.LineWidth = 1;
            raw.Color = raw.Color.WithAlpha(0.35);
            if (ys.Length >= smooth)
            {
                var avg = ys.Select((_, i) => ys.Skip(Math.Max(0, i - smooth + 1)).Take(Math.Min(smooth, i + 1)).Average()).ToArray();
                var line = plt.Add.Scatter(steps, avg);
                line.LegendText = $"{name} (mean of {smooth})";
                line.MarkerSize = 0;
                line.LineWidth = 2;
                line.Color = raw.Color.WithAlpha(1.0);   // 1.0: the fraction overload (an int literal would pick the byte one)
            }
        }
        plt.Title(title);
        plt.XLabel("step");
        plt.ShowLegend();
        if (!Dist.IsRoot) return;                 // rank 0 alone writes a data-parallel run's files
        string tmp = path + ".tmp.png";
        plt.SavePng(tmp, 900, 500);
        File.Move(tmp, path, overwrite: true);
    }

    /// <summary>One metric from several runs, each as a moving average over `smooth` steps.</summary>
    public static void SaveComparison(string path, string title, string metric,
        IReadOnlyList<(string Label, IReadOnlyList<Dictionary<string, object>> Rows)> runs, int smooth = 10,
        string? rightMetric = null)
    {
        var plt = new ScottPlot.Plot();
        foreach (var (label, rows) in runs)
        {
            var line = AddSmoothed(plt, rows, metric, smooth);
            line.LegendText = rightMetric is null ? label : $"{label}: {metric}";
            if (rightMetric is null) continue;
            // A second metric of the same run on the right axis, dashed (length and accuracy on one chart).
            var right = AddSmoothed(plt, rows, rightMetric, smooth);
            right.LegendText = $"{label}: {rightMetric}";
            right.LinePattern = ScottPlot.LinePattern.Dashed;
            right.Axes.YAxis = plt.Axes.Right;
        }
        plt.Title(title);
        plt.XLabel("step");
        plt.YLabel($"{metric} (mean of {smooth})");
        if (rightMetric is not null) plt.Axes.Right.Label.Text = $"{rightMetric} (mean of {smooth}, dashed)";
        plt.ShowLegend();
        string? folder = Path.GetDirectoryName(Path.GetFullPath(path));
        if (folder is not null && Dist.IsRoot) Directory.CreateDirectory(folder);
        if (!Dist.IsRoot) return;                 // rank 0 alone writes a data-parallel run's files
        string tmp = path + ".tmp.png";
        plt.SavePng(tmp, 900, 500);
        File.Move(tmp, path, overwrite: true);
    }

    /// <summary>One metric of a run against the step, as a trailing mean over `smooth` steps.</summary>
    static ScottPlot.Plottables.Scatter AddSmoothed(ScottPlot.Plot plt, IReadOnlyList<Dictionary<string, object>> rows,
        string metric, int smooth)
    {
        var points = rows.Where(r => r.ContainsKey(metric)).Select(r => (X: Convert.ToDouble(r["step"]),
            Y: Convert.ToDouble(r[metric]))).ToArray();
        var ys = points.Select(p => p.Y).ToArray();
        var avg = ys.Select((_, i) => ys.Skip(Math.Max(0, i - smooth + 1)).Take(Math.Min(smooth, i + 1)).Average()).ToArray();
        var line = plt.Add.Scatter(points.Select(p => p.X).ToArray(), avg);
        line.MarkerSize = 0;
        line.LineWidth = 2;
        return line;
    }

    /// <summary>Lines of y against x (accuracy against samples or budget), a marker at each point.</summary>
    public static void SaveXY(string path, string title, string xLabel, string yLabel,
        IReadOnlyList<(string Label, double[] Xs, double[] Ys)> series, bool logX)
    {
        var plt = new ScottPlot.Plot();
        foreach (var (label, xs, ys) in series)
        {
            var line = plt.Add.Scatter(logX ? xs.Select(Math.Log2).ToArray() : xs, ys);
            line.LegendText = label;
            line.MarkerSize = 6;
        }
        if (logX)
        {
            double[] ticks = series.SelectMany(s => s.Xs).Distinct().Order().ToArray();
            plt.Axes.Bottom.SetTicks(ticks.Select(Math.Log2).ToArray(), ticks.Select(t => t.ToString("0")).ToArray());
        }
        plt.Title(title);
        plt.XLabel(xLabel);
        plt.YLabel(yLabel);
        plt.ShowLegend();
        string tmp = path + ".tmp.png";
        plt.SavePng(tmp, 900, 500);
        File.Move(tmp, path, overwrite: true);
    }
}
