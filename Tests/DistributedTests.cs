using System.Diagnostics;
using System.Text.Json.Nodes;
using Engine.Checkpoints;
using Engine.Training;
using NUnit.Framework;

namespace Engine.Tests;

/// <summary>
/// Data-parallel runs on the CPU backend through `mpirun -np 2` (MPICH): two ranks with batch b equal one process
/// with batch 2b (per-step curve and final weights within 1e-5), resume from a data-parallel checkpoint, and a
/// rank that dies or hangs ends the job in bounded time. Skipped only where mpirun is missing (.ci/run installs it).
/// </summary>
[NonParallelizable]
public class DistributedTests
{
    const double Tolerance = 1e-5;
    string root = "";

    [SetUp]
    public void Setup()
    {
        if (Which("mpirun") is null)
            Assert.Ignore("mpirun is not installed (apt-get install mpich); .ci/run installs it");
        root = Path.Combine(Path.GetTempPath(), "engine-dist-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(root);
    }

    [TearDown] public void Cleanup() { if (Directory.Exists(root)) Directory.Delete(root, true); }

    string Dir(string name) => Path.Combine(root, name);

    static string? Which(string tool) => (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':')
        .Select(d => Path.Combine(d, tool)).FirstOrDefault(File.Exists);

    static ProcessStartInfo MpiRun(int ranks, string[] args, Dictionary<string, string>? env = null)
    {
        var psi = new ProcessStartInfo("mpirun") { RedirectStandardOutput = true, RedirectStandardError = true };
        string engine = Path.Combine(AppContext.BaseDirectory, "engine.dll");
        foreach (var a in (string[])["-np", ranks.ToString(), "dotnet", engine, .. args]) psi.ArgumentList.Add(a);
        foreach (var (k, v) in env ?? []) psi.Environment[k] = v;
        return psi;
    }

    static (int Code, string Out, string Err) Run(ProcessStartInfo psi)
    {
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(120_000)) { p.Kill(true); Assert.Fail("mpirun did not finish in 120 s"); }
        return (p.ExitCode, stdout.Result, stderr.Result);
    }

    static List<JsonObject> Rows(string run) => RunFolder.ReadMetrics(Path.Combine(run, "metrics.jsonl"));

    static void SameCurve(string one, string two, params string[] metrics) => SameCurve(one, two, 1e-3, metrics);

    /// <summary>Each metric within 1e-5 of one process's, relative to its size or to floor, whichever is
    /// larger.</summary>
    static void SameCurve(string one, string two, double floor, params string[] metrics)
    {
        var a = Rows(one);
        var b = Rows(two);
        Assert.That(b, Has.Count.EqualTo(a.Count));
        for (int i = 0; i < a.Count; i++)
            foreach (var m in metrics)
            {
                if (a[i][m] is null) { Assert.That(b[i][m], Is.Null, $"step {i} {m}"); continue; }
                double x = a[i][m]!.GetValue<double>(), y = b[i][m]!.GetValue<double>();
                Assert.That(Math.Abs(x - y), Is.LessThanOrEqualTo(Tolerance * Math.Max(floor, Math.Abs(x))),
                    $"step {i} {m}: one process {x}, two ranks {y}");
            }
    }

    /// <summary>Every tensor of the two final checkpoints within 1e-5 (relative to the weight, absolute below
    /// 1).</summary>
    static void SameWeights(string one, string two, params string[] except)
    {
        var a = SafeTensors.Read(Path.Combine(one, "model.safetensors"));
        var b = SafeTensors.Read(Path.Combine(two, "model.safetensors"));
        foreach (var name in except) Assert.That(a.Remove(name) && b.Remove(name), Is.True, $"no tensor {name}");
        Assert.That(b.Keys, Is.EquivalentTo(a.Keys));
        double worst = 0;
        foreach (var (name, t) in a)
            for (int i = 0; i < t.Data.Length; i++)
                worst = Math.Max(worst, Math.Abs(t.Data[i] - b[name].Data[i]) / Math.Max(1.0, Math.Abs(t.Data[i])));
        Assert.That(worst, Is.LessThanOrEqualTo(Tolerance));
    }

    // lr 1e-3: Adam divides by √v, so where a gradient is near 0 its summation-order noise moves a weight by up to ~lr;
    // at 1e-2 that reached 1.9e-5 in SFT's weights after 5 steps (the curves agreed to 1e-5), at 1e-3 it stays below.
    static readonly string[] Lm = ["--model", "micro", "--context", "16", "--lr", "1e-3", "--warmup", "2",
        "--seed", "3",
        "--steps", "5", "--eval-every", "5", "--eval-batches", "2", "--log-every", "1"];

    [TestCase("pretrain")]
    [TestCase("sft")]
    public void TwoRanksEqualOneProcessWithTheDoubledBatch(string verb)
    {
        var one = CliTests.Engine([verb, .. Lm, "--batch", "8", "--out", Dir("one")]);
        Assert.That(one.Code, Is.EqualTo(0), one.Err);
        var two = Run(MpiRun(2, [verb, .. Lm, "--batch", "4", "--out", Dir("two")]));
        Assert.That(two.Code, Is.EqualTo(0), two.Err + two.Out);
        Assert.That(Directory.GetFiles(root, "metrics.jsonl", SearchOption.AllDirectories), Has.Length.EqualTo(2));
        // Rank 0 alone prints: the banner appears once.
        Assert.That(two.Out.Split('\n').Count(l => l.StartsWith("distributed: 2 ranks")), Is.EqualTo(1), two.Out);
        SameCurve(Dir("one"), Dir("two"), "loss", "grad_norm", "eval/loss");
        SameWeights(Path.Combine(Dir("one"), "final"), Path.Combine(Dir("two"), "final"));
    }

    static readonly string[] Grpo = ["grpo", "--model", "micro", "--context", "32", "--steps", "4", "--group-size", "4",
        "--max-new-tokens", "12", "--entropy-coef", "0.01", "--lr", "1e-3", "--warmup", "0", "--log-every", "1",
        "--rewards", "accuracy:1,format:0.1,overlong:1", "--train-size", "200", "--minibatches", "2"];

    [Test]
    public void GrpoTwoRanksEqualOneProcessWithTheDoubledPrompts()
    {
        var one = CliTests.Engine([.. Grpo, "--prompts", "4", "--out", Dir("one")]);
        Assert.That(one.Code, Is.EqualTo(0), one.Err);
        var two = Run(MpiRun(2, [.. Grpo, "--prompts", "2", "--out", Dir("two")]));
        Assert.That(two.Code, Is.EqualTo(0), two.Err + two.Out);
        SameCurve(Dir("one"), Dir("two"), "reward/mean", "reward/std", "completion_length/mean", "loss/policy",
            "clipfrac", "entropy", "grad_norm");
        // The entropy bonus moves the weights even where the rewards of a group tie: the comparison is not of zeros.
        Assert.That(Rows(Dir("one")).Select(r => r["grad_norm"]!.GetValue<double>()), Has.All.GreaterThan(0));
        SameWeights(Path.Combine(Dir("one"), "final"), Path.Combine(Dir("two"), "final"));
    }

    /// <summary>rm (both heads) and then ppo with that reward model: two ranks with half the batch equal one
    /// process.</summary>
    [Test]
    public void RmAndPpoTwoRanksEqualOneProcessWithTheDoubledBatch()
    {
        var pre = CliTests.Engine(["pretrain", "--model", "micro", "--context", "48", "--steps", "2", "--batch", "4",
            "--eval-batches", "1", "--out", Dir("base")]);
        Assert.That(pre.Code, Is.EqualTo(0), pre.Err);
        string base_ = Path.Combine(Dir("base"), "final");
        foreach (var head in new[] { "scalar", "implicit" })
        {
            string[] rm = ["rm", "--checkpoint", base_, "--head", head, "--steps", "3", "--pairs", "40",
                "--eval-every", "3", "--lr", "1e-3", "--log-every", "1"];
            var one = CliTests.Engine([.. rm, "--batch", "8", "--out", Dir($"rm-{head}-1")]);
            Assert.That(one.Code, Is.EqualTo(0), one.Err);
            var two = Run(MpiRun(2, [.. rm, "--batch", "4", "--out", Dir($"rm-{head}-2")]));
            Assert.That(two.Code, Is.EqualTo(0), two.Err + two.Out);
            SameCurve(Dir($"rm-{head}-1"), Dir($"rm-{head}-2"), "loss", "accuracy", "eval/loss", "eval/accuracy");
            // Not the scalar head's bias, nor ln_f's bias that feeds it: the Bradley–Terry loss reads
            // r(chosen) − r(rejected), so their exact gradient is 0 and what is left is summation noise, which Adam
            // scales up to steps of ~lr.
            SameWeights(Path.Combine(Dir($"rm-{head}-1"), "final"), Path.Combine(Dir($"rm-{head}-2"), "final"),
                head == "scalar" ? ["v_head.summary.bias", "transformer.ln_f.bias"] : []);
        }
        string[] ppo = ["ppo", "--checkpoint", base_, "--reward-model", Path.Combine(Dir("rm-scalar-1"), "final"),
            "--steps", "2", "--max-new-tokens", "12", "--entropy-coef", "0.01", "--log-every", "1"];
        var p1 = CliTests.Engine([.. ppo, "--prompts", "8", "--out", Dir("ppo1")]);
        Assert.That(p1.Code, Is.EqualTo(0), p1.Err);
        var p2 = Run(MpiRun(2, [.. ppo, "--prompts", "4", "--out", Dir("ppo2")]));
        Assert.That(p2.Code, Is.EqualTo(0), p2.Err + p2.Out);
        // Not value_clipfrac: where the critic has not moved, v and its clipped copy old + (v − old) differ by
        // rounding alone, so which of the two equal squared errors counts as "clipped" follows the last bits.
        SameCurve(Dir("ppo1"), Dir("ppo2"), "reward/mean", "loss/policy", "loss/value", "entropy", "clipfrac",
            "explained_variance");
        // The KL is a difference of nearly equal log-probs (4 → 0.003): their rounding is ~1e-4 of it; 1e-6 absolute.
        SameCurve(Dir("ppo1"), Dir("ppo2"), 0.1, "kl");
        SameWeights(Path.Combine(Dir("ppo1"), "final"), Path.Combine(Dir("ppo2"), "final"));
        SameWeights(Path.Combine(Dir("ppo1"), "final", "critic"), Path.Combine(Dir("ppo2"), "final", "critic"));
    }

    [Test]
    public void TwoRanksResumeFromTheirCheckpointAsIfNeverStopped()
    {
        string[] args = ["pretrain", .. Lm, "--batch", "4", "--save-every", "2"];
        Assert.That(Run(MpiRun(2, [.. args, "--out", Dir("full")])).Code, Is.EqualTo(0));
        string checkpoint = Path.Combine(Dir("full"), "checkpoint-2");
        var resumed = Run(MpiRun(2, [.. args, "--resume", checkpoint, "--out", Dir("resumed")]));
        Assert.That(resumed.Code, Is.EqualTo(0), resumed.Err);
        var full = Rows(Dir("full")).Where(r => r["step"]!.GetValue<int>() >= 2).Select(r => r["loss"]!.ToJsonString());
        Assert.That(Rows(Dir("resumed")).Select(r => r["loss"]!.ToJsonString()), Is.EqualTo(full));
        SameWeights(Path.Combine(Dir("full"), "final"), Path.Combine(Dir("resumed"), "final"));
    }

    [Test]
    public void AVerbThatIsNotDataParallelIsRefusedWithOneLine()
    {
        var run = Run(MpiRun(2, ["demo", "--out", Dir("demo")]));
        Assert.That(run.Code, Is.Not.EqualTo(0));
        var lines = run.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.That(lines.Where(l => l.StartsWith("engine: error:")).ToArray(),
            Is.EqualTo(new[] { "engine: error: demo does not run data-parallel (pretrain, sft, rm, grpo and ppo do); " +
                               "run it without mpirun" }), run.Err);
        Assert.That(Directory.Exists(Dir("demo")), Is.False);
    }

    /// <summary>A stop signal that reaches one rank only (a terminal's Ctrl-C reaches them all, but not necessarily in
    /// the same step): the ranks agree, and both stop after the same step with one checkpoint.</summary>
    [Test]
    public void ASignalToOneRankStopsEveryRankAfterTheSameStepWithOneCheckpoint()
    {
        var run = Disrupt("INT");
        Assert.That(run.Code, Is.EqualTo(130), run.Err);
        var checkpoints = Directory.GetDirectories(Dir("run"), "checkpoint-*");
        Assert.That(checkpoints, Has.Length.EqualTo(1));
        int step = int.Parse(Path.GetFileName(checkpoints[0])["checkpoint-".Length..]);
        Assert.That(Rows(Dir("run")), Has.Count.EqualTo(step), "rank 0 logged exactly the steps before the checkpoint");
        var lines = run.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.That(lines.Count(l => l.StartsWith($"engine: interrupted after step {step}; ")), Is.EqualTo(1),
            run.Err);
        Assert.That(run.Err, Does.Contain("continue with: mpirun -np 2 engine pretrain"));
    }

    [Test]
    public void AnErrorOnOneRankEndsTheJobWithThatRanksLine()
    {
        // MPMD launch: rank 0 reads a file that exists, rank 1 one that does not (a file missing on one host).
        File.WriteAllText(Dir("book.txt"), string.Concat(Enumerable.Repeat("the cat sat on the mat. ", 200)));
        string[] common = ["pretrain", "--model", "micro", "--context", "16", "--steps", "3", "--batch", "4"];
        string engine = Path.Combine(AppContext.BaseDirectory, "engine.dll");
        var psi = new ProcessStartInfo("mpirun") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in (string[])["-np", "1", "dotnet", engine, .. common, "--data", Dir("book.txt"), "--out",
                     Dir("run"), ":", "-np", "1", "dotnet", engine, .. common, "--data", Dir("missing.txt"), "--out",
                     Dir("run")])
            psi.ArgumentList.Add(a);
        var clock = Stopwatch.StartNew();
        var run = Run(psi);
        Assert.That(run.Code, Is.Not.EqualTo(0));
        Assert.That(clock.Elapsed.TotalSeconds, Is.LessThan(60));
        var lines = run.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.That(lines.Where(l => l.StartsWith("engine: error:")).ToArray(),
            Is.EqualTo(new[] { $"engine: error: rank 1: --data {Dir("missing.txt")}: no such file" }), run.Err);
    }

    /// <summary>Starts a long two-rank run, waits for it to log, then sends rank 1 the signal.</summary>
    (int Code, string Out, string Err, double Seconds) Disrupt(string signal, Dictionary<string, string>? env = null)
    {
        string tag = Guid.NewGuid().ToString("N");
        var psi = MpiRun(2, ["pretrain", "--model", "micro", "--context", "16", "--steps", "100000", "--batch", "4",
            "--log-every", "1", "--out", Dir("run")],
            new Dictionary<string, string>(env ?? []) { ["ENGINE_TEST_TAG"] = tag });
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        string metrics = Path.Combine(Dir("run"), "metrics.jsonl");
        var wait = Stopwatch.StartNew();
        while (!(File.Exists(metrics) && File.ReadAllLines(metrics).Length >= 2) && wait.Elapsed.TotalSeconds < 60)
            Thread.Sleep(200);
        int rank1 = Ranks(tag).Single(r => r.Rank == 1).Pid;
        Process.Start("kill", [$"-{signal}", rank1.ToString()])!.WaitForExit();
        var clock = Stopwatch.StartNew();
        bool ended = p.WaitForExit(60_000);
        double seconds = clock.Elapsed.TotalSeconds;
        if (!ended) p.Kill(true);
        Assert.That(ended, Is.True, "the job did not end within 60 s of the rank's failure");
        // The launcher's kill has been sent; the kernel may take a moment to tear the process down.
        for (var grace = Stopwatch.StartNew(); Ranks(tag).Count > 0 && grace.Elapsed.TotalSeconds < 5;)
            Thread.Sleep(100);
        var left = Ranks(tag);
        foreach (var (pid, _) in left) Process.GetProcessById(pid).Kill();
        Assert.That(left, Is.Empty, "a rank outlived the job");
        return (p.ExitCode, stdout.Result, stderr.Result, seconds);
    }

    /// <summary>This test's rank processes (found by the tag in their environment) and their MPI ranks.</summary>
    static List<(int Pid, int Rank)> Ranks(string tag)
    {
        var found = new List<(int, int)>();
        foreach (var dir in Directory.GetDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out int pid)) continue;
            string[] env;
            try { env = File.ReadAllText(Path.Combine(dir, "environ")).Split('\0'); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { continue; }
            if (!env.Contains($"ENGINE_TEST_TAG={tag}")
                || !File.ReadAllText(Path.Combine(dir, "cmdline")).Contains("engine.dll"))
                continue;
            var rank = env.FirstOrDefault(e => e.StartsWith("PMI_RANK="));
            if (rank is not null) found.Add((pid, int.Parse(rank["PMI_RANK=".Length..])));
        }
        return found;
    }

    [Test]
    public void AKilledRankEndsTheJob()
    {
        var (code, stdout, stderr, seconds) = Disrupt("KILL");
        Assert.That(code, Is.Not.EqualTo(0));
        // MPICH's launcher sees the death and kills the other ranks at once; its one line names the signal.
        Assert.That(stdout + stderr, Does.Contain("Killed (signal 9)"));
        TestContext.Out.WriteLine($"ended {seconds:F1} s after the kill");
        // What rank 0 logged is whole: every line parses (a torn last line would be dropped with a warning).
        Assert.That(Rows(Dir("run")), Is.Not.Empty);
    }

    [Test]
    public void AHungRankEndsTheJobWithOneErrorLine()
    {
        // SIGSTOP: the rank is alive to the launcher but answers nothing, as a wedged process or a lost host.
        var (code, _, stderr, seconds) = Disrupt("STOP", new() { ["ENGINE_DIST_TIMEOUT"] = "5" });
        Assert.That(code, Is.Not.EqualTo(0));
        var lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.That(lines.Count(l => l.StartsWith("engine: error:")), Is.EqualTo(1), stderr);
        Assert.That(lines.Single(l => l.StartsWith("engine: error:")),
            Does.Contain("did not complete within 5 s").And.Contain("another rank has died or hangs"));
        // Besides it, only MPI's own note of the abort.
        Assert.That(lines.Where(l => !l.StartsWith("engine: error:")), Has.All.StartsWith("Abort("), stderr);
        Assert.That(seconds, Is.LessThan(30));
    }
}
