namespace Engine.Training;

/// <summary>
/// Notices an RL run whose accuracy or reward has collapsed: the mean over the last
/// <see cref="Window"/> steps is at or below 0 after an earlier window's mean reached
/// <see cref="Floor"/>. It warns once per metric on stderr (the run goes on) and keeps the
/// warnings for summary.json.
/// </summary>
public sealed class CollapseWatch(string verb, params string[] metrics)
{
    public const int Window = 5;
    public const double Floor = 0.05;
    readonly Dictionary<string, Queue<double>> recent = metrics.ToDictionary(m => m, _ => new Queue<double>());
    readonly Dictionary<string, (double Mean, int Step)> best = [];
    readonly HashSet<string> warned = [];
    public List<string> Warnings { get; } = [];

    public void Observe(int step, IReadOnlyDictionary<string, object> row)
    {
        foreach (var (name, window) in recent)
        {
            if (!row.TryGetValue(name, out var v)) continue;
            window.Enqueue(Convert.ToDouble(v));
            if (window.Count > Window) window.Dequeue();
            if (window.Count < Window) continue;
            double mean = window.Average();
            if (!best.TryGetValue(name, out var b) || mean > b.Mean) best[name] = (mean, step);
            if (mean <= 0 && best[name].Mean >= Floor && warned.Add(name))
            {
                string warning = $"{verb}: warning: {name} collapsed to {mean:0.###} (mean of steps {step - Window + 1}-{step}) " +
                                 $"after reaching {best[name].Mean:0.###} at step {best[name].Step}; " +
                                 "the policy may be destroyed (a lower --lr or a --warmup helps)";
                Warnings.Add(warning);
                Console.Error.WriteLine(warning);
            }
        }
    }
}
