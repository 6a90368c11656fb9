using Engine.Checkpoints;
using Engine.Distributed;
using Engine.Training;

namespace Engine.Cli;

/// <summary>
/// Which folder a training run writes into. A fresh run never mixes with an earlier one: without
/// --out it takes the first free runs/VERB, runs/VERB-2, ...; an --out that holds a run is refused
/// unless --overwrite (which removes that run's files, nothing else). --resume DIR/checkpoint-N
/// continues in DIR unless --out says otherwise, and only a checkpoint of the same verb.
/// </summary>
static class RunDirs
{
    /// <summary>
    /// A chosen run folder. Choosing checks everything and changes nothing; <see cref="Claim"/>, called once
    /// the model and data have loaded, removes the run an --overwrite replaces — so a bad input never
    /// costs the old run.
    /// </summary>
    public sealed class RunDir(string path, bool replace)
    {
        public string Claim()
        {
            if (replace && Dist.IsRoot) RemoveRun(path);    // one rank removes; the others would race it
            return path;
        }
    }

    /// <summary>The folder for this verb's run: fresh, or (with --resume) the checkpoint's run folder.</summary>
    public static RunDir For(string verb, IRunOptions o, string? resume = null, int steps = 0) =>
        resume is null ? Fresh(verb, o.Out, o.Overwrite) : Resumed(verb, resume, o.Out, o.Overwrite, steps);

    static RunDir Fresh(string verb, string? requested, bool overwrite)
    {
        string dir = requested ?? FirstFree(verb);
        bool replace = requested is not null && HoldsRun(dir);
        if (replace && !overwrite)
            throw new ArgumentException($"--out {dir}: already holds a run (metrics.jsonl, checkpoints or summary.json); " +
                                        "pass --overwrite to replace it, or name another folder");
        Console.WriteLine($"{verb}: run folder {dir}");
        return new RunDir(dir, replace);
    }

    /// <summary>The folder a resumed run writes into; the checkpoint is checked (same verb, steps left) first.</summary>
    static RunDir Resumed(string verb, string checkpoint, string? requested, bool overwrite, int steps)
    {
        var state = Checkpoint.ResumeState(checkpoint, verb);
        int at = state["step"]!.GetValue<int>();
        if (steps <= at)
            throw new ArgumentException($"--steps {steps}: {checkpoint} is already at step {at}; " +
                                        $"give --steps greater than {at} to continue the run");
        string runDir = Of(checkpoint);
        if (requested is not null && Path.GetFullPath(requested).TrimEnd('/') != runDir)
            return Fresh(verb, requested, overwrite);
        string dir = requested ?? Path.GetRelativePath(Environment.CurrentDirectory, runDir);
        Console.WriteLine($"{verb}: continuing in run folder {dir}");
        return new RunDir(dir, replace: false);
    }

    /// <summary>The run folder a checkpoint belongs to (its parent), where a run keeps its reference or initial weights.</summary>
    public static string Of(string checkpoint) => Path.GetDirectoryName(Path.GetFullPath(checkpoint.TrimEnd('/', '\\')))!;

    static string FirstFree(string verb)
    {
        for (int i = 1; ; i++)
        {
            string dir = Path.Combine("runs", i == 1 ? verb : $"{verb}-{i}");
            if (!Directory.Exists(dir) || !Directory.EnumerateFileSystemEntries(dir).Any()) return dir;
        }
    }

    /// <summary>A run folder, or one whose subfolders are (the demo's sft/ and grpo/), or a checkpoint.</summary>
    public static bool HoldsRun(string dir) =>
        Directory.Exists(dir) && (IsRunArtefact(dir) || Directory.EnumerateDirectories(dir).Any(IsRunArtefact)
                                  || File.Exists(Path.Combine(dir, "summary.json")));

    static bool IsRunArtefact(string dir) =>
        File.Exists(RunFolder.MetricsPath(dir)) || File.Exists(Path.Combine(dir, "config.json"))
        || File.Exists(Path.Combine(dir, "trainer_state.json"));

    /// <summary>
    /// Removes what runs write (metrics, summary, curves, checkpoints and sub-runs, temp folders) and
    /// leaves anything else in the folder alone.
    /// </summary>
    static void RemoveRun(string dir)
    {
        Checkpoint.CleanStale(dir);
        foreach (var sub in Directory.GetDirectories(dir).Where(IsRunArtefact)) Directory.Delete(sub, true);
        foreach (var sub in Directory.GetDirectories(dir).Where(d => Directory.EnumerateDirectories(d).Any(IsRunArtefact)))
            RemoveRun(sub);
        foreach (var name in new[] { "metrics.jsonl", "summary.json", "traces.jsonl" })
            File.Delete(Path.Combine(dir, name));
        foreach (var png in Directory.GetFiles(dir, "*.png")) File.Delete(png);
    }
}
