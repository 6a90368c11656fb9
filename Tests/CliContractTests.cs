using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.RegularExpressions;
using Engine.Checkpoints;
using Engine.Model;
using Engine.Tokenizers;
using Engine.Training;
using NUnit.Framework;
using static Engine.Tests.CliTests;

namespace Engine.Tests;

/// <summary>
/// What the CLI promises a user, checked on the binary: one-line errors, JSON that parses, run
/// folders that never mix two runs, and Ctrl-C that leaves a checkpoint resuming to the same weights.
/// </summary>
public class CliContractTests
{
    static (int Code, string Out, string Err) Run(params string[] args) => CliTests.Engine(args);

    static string root = "";
    static string Ck(string name) => Path.Combine(root, name);
    static readonly string[] Micro = ["--model", "micro", "--context", "16", "--batch", "8", "--lr", "1e-2",
        "--warmup", "10", "--seed", "3"];

    /// <summary>A pretrain checkpoint at step 2 and a grpo checkpoint, made once for the bad-input cases.</summary>
    [OneTimeSetUp]
    public void MakeCheckpoints()
    {
        root = Path.Combine(Path.GetTempPath(), "engine-contract-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(root);
        var run = Run(["pretrain", .. Micro, "--steps", "2", "--out", Ck("pre")]);
        Assert.That(run.Code, Is.EqualTo(0), run.Err);
        run = Run("grpo", "--model", "micro", "--context", "24", "--steps", "1", "--prompts", "2", "--group-size", "2",
            "--max-new-tokens", "4", "--train-size", "10", "--out", Ck("grpo"));
        Assert.That(run.Code, Is.EqualTo(0), run.Err);
        File.WriteAllText(Ck("empty.jsonl"), "");
        File.WriteAllText(Ck("long.jsonl"), JsonSerializer.Serialize(new { prompt = new string('1', 40) + "+1=", answer = "2" }) + "\n");
        File.WriteAllText(Ck("huge.json"),
            """{"model_type":"gpt2","vocab_size":102,"n_embd":1000000,"n_layer":1,"n_head":1,"n_positions":16}""");
    }

    [OneTimeTearDown] public void RemoveRoot() { if (Directory.Exists(root)) Directory.Delete(root, true); }

    string dir = "";
    [SetUp] public void MakeDir() => Directory.CreateDirectory(dir = Path.Combine(root, "t-" + Guid.NewGuid().ToString("N")[..8]));
    string Dir(string name) => Path.Combine(dir, name);

    static string[] Losses(string run) =>
        RunFolder.ReadMetrics(Path.Combine(run, "metrics.jsonl")).Select(r => r["loss"]!.ToJsonString()).ToArray();

    // ---- errors: one line on stderr, non-zero exit ------------------------------------------------

    static IEnumerable<TestCaseData> BadInputs()
    {
        TestCaseData Case(string message, params string[] args) => new TestCaseData(args,
            message).SetName($"BadInput({string.Join(' ', args)})");
        yield return Case("unknown option '--step' (did you mean --steps?)", "pretrain", "--step", "5");
        yield return Case("--lr: 'fast' is not a valid number", "pretrain", "--lr", "fast");
        yield return Case("unknown verb 'trian'; the verbs are pretrain, sft", "trian");
        yield return Case("no verb given", []);
        yield return Case("unexpected argument 'stray'", "pretrain", "--steps", "1", "stray");
        yield return Case("--clip must be >= 0", "pretrain", "--clip", "-1");
        yield return Case("--clip must be >= 0", "grpo", "--clip", "-1");
        yield return Case("more than a tensor can hold", "pretrain", "--model", "micro", "--context", "1000000000");
        yield return Case("more than a tensor can hold", "pretrain", "--model", "HUGE");
        yield return Case("--resume /no/such/dir: no such folder", "sft", "--resume", "/no/such/dir");
        yield return Case("--teacher /no/such/dir: no such folder", "distill", "--teacher", "/no/such/dir");
        yield return Case("unknown option '--model'", "sample", "--model", "micro", "--prompt", "x");
        yield return Case("eval: a prompt of", "eval", "--checkpoint", "PRE", "--task", "arithmetic", "--data", "LONG");
        yield return Case("rejection-sample: a prompt of", "rejection-sample", "--checkpoint", "PRE", "--data", "LONG", "--out", "OUT");
        yield return Case("no prompt/completion rows", "eval", "--checkpoint", "PRE", "--data", "EMPTY");
        yield return Case("a checkpoint of `engine grpo`, not of `engine pretrain`", "pretrain", "--resume", "GRPO");
        yield return Case("--steps 2: ", "pretrain", "--resume", "PRE", "--steps", "2");
        yield return Case("already holds a run", "pretrain", "--steps", "1", "--out", "PRERUN");
        yield return Case("need a task that can vary its worked solutions", "data", "--task", "arithmetic",
            "--length-budgets", "8");
        yield return Case("does not combine with --thinking-modes", "data", "--task", "multisum:1",
            "--length-budgets", "8", "--thinking-modes");
        yield return Case("--length-budgets must be >= 0", "data", "--task", "multisum", "--length-budgets", "8,-1");
        yield return Case("--think-wait needs a non-empty text and --think-min > 0", "sample", "--checkpoint", "PRE",
            "--prompt", "1+", "--think-wait", " Wait");
        yield return Case("--decode-chunk must be >= 0, got -1", "sample", "--checkpoint", "PRE", "--prompt", "1+",
            "--decode-chunk", "-1");
        yield return Case("--cuda-graphs must be on or off, got 'maybe'", "grpo", "--cuda-graphs", "maybe");
        yield return Case("--warmup must be >= 0", "sample", "--checkpoint", "PRE", "--prompt", "1+", "--warmup", "-2");
    }

    [TestCaseSource(nameof(BadInputs))]
    public void BadInputGivesOneLineAndNonZeroExit(string[] args, string message)
    {
        args = args.Select(a => a switch
        {
            "PRE" => Path.Combine(Ck("pre"), "final"), "PRERUN" => Ck("pre"), "GRPO" => Path.Combine(Ck("grpo"), "final"),
            "LONG" => Ck("long.jsonl"), "EMPTY" => Ck("empty.jsonl"), "HUGE" => Ck("huge.json"), "OUT" => Dir("out.jsonl"),
            _ => a,
        }).ToArray();
        AssertOneLineError(Run(args), message);
        Assert.That(File.Exists(Dir("out.jsonl")), Is.False, "nothing written");
    }

    [Test]
    public void DecodingIdsOutsideTheVocabularyIsAnError() =>
        AssertOneLineError(EngineWithInput("[15496, 99999]", "tokenize", "--decode"), "id 99999 (position 1) is outside");

    [Test]
    public void VersionPrintsOneLine()
    {
        foreach (var args in new[] { new[] { "--version" }, ["version"] })
        {
            var (code, stdout, _) = Run(args);
            Assert.That(code, Is.EqualTo(0));
            Assert.That(stdout.Trim(), Does.Match(@"^engine \d+\.\d+\.\d+$"));
        }
    }

    [Test]
    public void HelpForAVerbEitherWay()
    {
        foreach (var args in new[] { new[] { "grpo", "--help" }, ["help", "grpo"] })
        {
            var (code, stdout, err) = Run(args);
            Assert.That(code, Is.EqualTo(0), err);
            Assert.That(stdout, Does.Contain("usage: engine grpo").And.Contain("--group-size").And.Contain("--overwrite"));
        }
    }

    // ---- machine-readable output ------------------------------------------------------------------

    [Test]
    public void JsonOutputIsJsonAloneWithPlainCharacters()
    {
        var (code, stdout, err) = Run("data", "--task", "arithmetic", "--n", "3");
        Assert.That(code, Is.EqualTo(0), err);
        var lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.That(lines, Has.Length.EqualTo(3));
        foreach (var line in lines) Assert.That(JsonDocument.Parse(line).RootElement.GetProperty("answer").GetString(), Is.Not.Empty);
        Assert.That(stdout, Does.Contain("</answer>").And.Contain("+").And.Not.Contain("\\u003C"), "relaxed escaping");

        string ckpt = Path.Combine(Ck("pre"), "final");
        (code, stdout, err) = Run("sample", "--checkpoint", ckpt, "--prompt", "1+2=", "--num-samples", "2",
            "--max-new-tokens", "3", "--json");
        Assert.That(code, Is.EqualTo(0), err);
        lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.That(lines, Has.Length.EqualTo(2), stdout);
        foreach (var line in lines) Assert.That(JsonDocument.Parse(line).RootElement.GetProperty("prompt").GetString(), Is.EqualTo("1+2="));
        Assert.That(err, Does.Contain("device:").And.Contain("GiB"), "banners go to stderr; the device line names its memory");

        (code, stdout, err) = Run("eval", "--checkpoint", ckpt, "--task", "arithmetic", "--n", "3", "--k", "1",
            "--max-new-tokens", "3", "--json");
        Assert.That(code, Is.EqualTo(0), err);
        Assert.That(JsonDocument.Parse(stdout).RootElement.GetProperty("n").GetInt32(), Is.EqualTo(3),
            "the whole stdout is one JSON object");

        File.WriteAllText(Dir("pairs.jsonl"), "{\"prompt\":\"1+2=\",\"completion\":\"<answer>3</answer>\"}\n");
        (code, stdout, err) = Run("eval", "--checkpoint", ckpt, "--data", Dir("pairs.jsonl"), "--json");
        Assert.That(code, Is.EqualTo(0), err);
        Assert.That(JsonDocument.Parse(stdout).RootElement.GetProperty("tokens").GetInt32(), Is.EqualTo(4),
            "<answer>, 3, </answer> and EOS");
    }

    // ---- run folders ------------------------------------------------------------------------------

    [Test]
    public void RunsWithoutOutGetNewFoldersAndAResumeContinuesInItsOwn()
    {
        string[] args = ["pretrain", .. Micro, "--steps", "4", "--save-every", "2", "--eval-every", "0"];
        Assert.That(EngineIn(dir, null, args).Code, Is.EqualTo(0));
        var second = EngineIn(dir, null, args);
        Assert.That(second.Code, Is.EqualTo(0), second.Err);
        Assert.That(second.Out, Does.Contain("run folder runs/pretrain-2"));
        Assert.That(File.Exists(Path.Combine(dir, "runs", "pretrain", "final", "model.safetensors")));
        Assert.That(File.Exists(Path.Combine(dir, "runs", "pretrain-2", "final", "model.safetensors")));

        // --resume without --out writes into the checkpoint's run folder, nowhere else.
        var resumed = EngineIn(dir, null,
            ["pretrain", .. Micro, "--steps", "6", "--eval-every", "0", "--resume", "runs/pretrain/checkpoint-2"]);
        Assert.That(resumed.Code, Is.EqualTo(0), resumed.Err);
        Assert.That(Directory.GetDirectories(Path.Combine(dir, "runs")).Select(Path.GetFileName),
            Is.EquivalentTo(new[] { "pretrain", "pretrain-2" }));
        var state = Checkpoint.LoadTrainerState(Path.Combine(dir, "runs", "pretrain", "final"))!;
        Assert.That(state["step"]!.GetValue<int>(), Is.EqualTo(6));
        Assert.That(state["kind"]!.GetValue<string>(), Is.EqualTo("pretrain"));
        Assert.That(Losses(Path.Combine(dir, "runs", "pretrain")), Has.Length.EqualTo(6));
    }

    [Test]
    public void OverwriteReplacesTheOldRunAndOnlyIt()
    {
        Assert.That(Run(["pretrain", .. Micro, "--steps", "3", "--save-every", "1", "--out", Dir("a")]).Code, Is.EqualTo(0));
        File.WriteAllText(Dir("a/notes.txt"), "mine");
        var again = Run(["pretrain", .. Micro, "--steps", "2", "--out", Dir("a"), "--overwrite"]);
        Assert.That(again.Code, Is.EqualTo(0), again.Err);
        Assert.That(Directory.GetDirectories(Dir("a")).Select(Path.GetFileName), Is.EqualTo(new[] { "final" }), "old checkpoints removed");
        Assert.That(Losses(Dir("a")), Has.Length.EqualTo(2));
        Assert.That(File.ReadAllText(Dir("a/notes.txt")), Is.EqualTo("mine"), "files that are not the run's stay");
    }

    [Test]
    public void OverwriteRemovesNothingUntilTheInputsHaveLoaded()
    {
        Assert.That(Run(["sft", .. Micro, "--steps", "2", "--out", Dir("s")]).Code, Is.EqualTo(0));
        AssertOneLineError(Run(["sft", .. Micro, "--steps", "2", "--out", Dir("s"), "--overwrite", "--data", Dir("none.jsonl")]),
            "no such file");
        Assert.That(File.Exists(Dir("s/final/model.safetensors")), "a bad input leaves the old run alone");
        // Continuing from the run's own final weights into the same folder: loaded first, then replaced.
        var again = Run(["sft", "--checkpoint", Dir("s/final"), "--steps", "2", "--out", Dir("s"), "--overwrite"]);
        Assert.That(again.Code, Is.EqualTo(0), again.Err);
        Assert.That(Losses(Dir("s")), Has.Length.EqualTo(2));
    }

    // ---- interruption -----------------------------------------------------------------------------

    [DllImport("libc", SetLastError = true)]
    static extern int kill(int pid, int signal);

    [Test]
    public void CtrlCWritesACheckpointThatResumesToTheSameWeights()
    {
        string[] args = ["pretrain", .. Micro, "--steps", "400", "--eval-every", "0", "--log-every", "1000"];
        var whole = Run([.. args, "--out", Dir("whole")]);
        Assert.That(whole.Code, Is.EqualTo(0), whole.Err);

        using var p = Process.Start(StartInfo(null, [.. args, "--out", Dir("cut")]))!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        var clock = Stopwatch.StartNew();
        while (LoggedRows(Dir("cut")) < 5 && !p.HasExited && clock.Elapsed.TotalSeconds < 60) Thread.Sleep(5);
        Assert.That(p.HasExited, Is.False, "the run ended before it could be interrupted");
        Assert.That(kill(p.Id, 2), Is.EqualTo(0), "SIGINT");
        Assert.That(p.WaitForExit(60_000), "the interrupted run exits");
        Assert.That(p.ExitCode, Is.EqualTo(130), stderr.Result);

        // The last stderr line names the checkpoint and the command that continues the run; run it.
        string last = stderr.Result.Split('\n', StringSplitOptions.RemoveEmptyEntries)[^1];
        var m = Regex.Match(last, @"checkpoint (\S+); continue with: engine (.+)$");
        Assert.That(m.Success, last);
        Assert.That(Directory.Exists(m.Groups[1].Value), last);
        var resume = Run(m.Groups[2].Value.Split(' '));
        Assert.That(resume.Code, Is.EqualTo(0), resume.Err);

        foreach (var file in new[] { "model.safetensors", "optimizer.safetensors" })
            Assert.That(File.ReadAllBytes(Path.Combine(Dir("cut"), "final", file)),
                Is.EqualTo(File.ReadAllBytes(Path.Combine(Dir("whole"), "final", file))), file);
        Assert.That(Losses(Dir("cut")), Is.EqualTo(Losses(Dir("whole"))));
        _ = stdout.Result;
    }

    [Test]
    public void SigtermStopsGrpoWithACheckpointThatResumes()
    {
        string[] args = ["grpo", "--model", "micro", "--context", "24", "--steps", "300", "--prompts", "2", "--group-size", "2",
            "--max-new-tokens", "4", "--train-size", "20", "--log-every", "1000", "--out", Dir("g")];
        using var p = Process.Start(StartInfo(null, args))!;
        var stderr = p.StandardError.ReadToEndAsync();
        _ = p.StandardOutput.ReadToEndAsync();
        var clock = Stopwatch.StartNew();
        while (LoggedRows(Dir("g")) < 2 && !p.HasExited && clock.Elapsed.TotalSeconds < 60) Thread.Sleep(5);
        Assert.That(p.HasExited, Is.False, "the run ended before it could be stopped");
        Assert.That(kill(p.Id, 15), Is.EqualTo(0), "SIGTERM");
        Assert.That(p.WaitForExit(60_000));
        Assert.That(p.ExitCode, Is.EqualTo(143), stderr.Result);
        var m = Regex.Match(stderr.Result, @"checkpoint (\S+); continue with: engine (.+)");
        Assert.That(m.Success, stderr.Result);
        var state = Checkpoint.LoadTrainerState(m.Groups[1].Value)!;
        Assert.That(state["kind"]!.GetValue<string>(), Is.EqualTo("grpo"));
        int step = state["step"]!.GetValue<int>();
        Assert.That(RunFolder.ReadMetrics(Dir("g/metrics.jsonl")), Has.Count.EqualTo(step), "every finished step is logged");

        // Continue for a few more steps only: the same command with a smaller --steps.
        var resume = Run(m.Groups[2].Value.Trim().Replace("--steps 300", $"--steps {step + 2}").Split(' '));
        Assert.That(resume.Code, Is.EqualTo(0), resume.Err);
        Assert.That(RunFolder.ReadMetrics(Dir("g/metrics.jsonl")), Has.Count.EqualTo(step + 2));
    }

    static int LoggedRows(string run)
    {
        string file = Path.Combine(run, "metrics.jsonl");
        if (!File.Exists(file)) return 0;
        using var f = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        using var r = new StreamReader(f);
        return r.ReadToEnd().Count(c => c == '\n');
    }

    [Test]
    public void ATornMetricsLineIsDroppedByResumeAndPlot()
    {
        string[] args = ["pretrain", .. Micro, "--steps", "6", "--save-every", "3", "--eval-every", "0"];
        Assert.That(Run([.. args, "--out", Dir("a")]).Code, Is.EqualTo(0));
        var losses = Losses(Dir("a"));
        File.AppendAllText(Dir("a/metrics.jsonl"), "{\"step\":6,\"lo");        // a kill in the middle of a write

        var plot = Run("plot", "--runs", Dir("a"), "--metric", "loss", "--out", Dir("loss.png"));
        Assert.That(plot.Code, Is.EqualTo(0), plot.Err);
        Assert.That(plot.Err, Does.Contain("torn last line"));
        Assert.That(File.Exists(Dir("loss.png")));
        var two = Run("plot", "--runs", Dir("a"), "--metric", "loss", "--right-metric", "lr", "--out", Dir("two.png"));
        Assert.That(two.Code, Is.EqualTo(0), two.Err);
        Assert.That(new FileInfo(Dir("two.png")).Length, Is.GreaterThan(1000));
        var none = Run("plot", "--runs", Dir("a"), "--metric", "loss", "--right-metric", "nope", "--out", Dir("x.png"));
        Assert.That((none.Code, none.Err.Trim().Split('\n')[^1]), Is.EqualTo((1, $"engine: error: plot: " +
            $"{Dir("a/metrics.jsonl")} has no metric 'nope'")));       // after the torn line's warning

        var resumed = Run([.. args, "--resume", Dir("a/checkpoint-3")]);
        Assert.That(resumed.Code, Is.EqualTo(0), resumed.Err);
        Assert.That(resumed.Err, Does.Contain("torn last line"));
        Assert.That(Losses(Dir("a")), Is.EqualTo(losses), "the resumed run rewrites steps 3-5 exactly");
    }

    [Test]
    public void PpoResumesToTheSameWeights()
    {
        string[] args = ["ppo", "--model", "micro", "--context", "24", "--steps", "3", "--prompts", "2", "--max-new-tokens", "4",
            "--save-every", "1", "--kl-target", "1", "--log-every", "1000", "--seed", "4"];
        var whole = Run([.. args, "--out", Dir("a")]);
        Assert.That(whole.Code, Is.EqualTo(0), whole.Err);
        var resumed = Run([.. args, "--out", Dir("c"), "--resume", Dir("a/checkpoint-1")]);
        Assert.That(resumed.Code, Is.EqualTo(0), resumed.Err);
        foreach (var file in new[]
                 {
                     "final/model.safetensors", "final/optimizer.safetensors", "final/critic/model.safetensors",
                     "final/critic/optimizer.safetensors",
                 })
            Assert.That(File.ReadAllBytes(Path.Combine(Dir("c"), file)), Is.EqualTo(File.ReadAllBytes(Path.Combine(Dir("a"), file))), file);
        static string[] Rows(string run) => RunFolder.ReadMetrics(Path.Combine(run, "metrics.jsonl")).Select(r =>
        {
            foreach (var key in r.Select(kv => kv.Key).Where(k => k == "tokens_per_s" || k.StartsWith("time/")).ToList())
                r.Remove(key);                                              // timings differ between runs
            return r.ToJsonString();
        }).ToArray();
        Assert.That(Rows(Dir("c")), Is.EqualTo(Rows(Dir("a"))[1..]));
    }

    [Test]
    public void EveryEstimatorCanBeChosenFromTheCli()
    {
        var grpo = Run("grpo", "--model", "micro", "--context", "24", "--steps", "2", "--prompts", "2", "--group-size", "3",
            "--max-new-tokens", "4", "--train-size", "10", "--advantage", "reinforce++", "--out", Dir("g"));
        Assert.That(grpo.Code, Is.EqualTo(0), grpo.Err);
        var ppo = Run("ppo", "--model", "micro", "--context", "24", "--steps", "2", "--prompts", "2", "--max-new-tokens", "4",
            "--kl-estimator", "k2", "--out", Dir("p"));
        Assert.That(ppo.Code, Is.EqualTo(0), ppo.Err);
        Assert.That(RunFolder.ReadMetrics(Dir("p/metrics.jsonl")), Has.Count.EqualTo(2));
    }

    // ---- checkpoints on disk ----------------------------------------------------------------------

    [Test]
    public void OverwritingACheckpointSwapsItAndStaleFoldersAreCleaned()
    {
        var tok = new CharTokenizer();
        var cfg = ModelConfig.Preset("micro", tok.VocabSize, 16);
        string ck = Dir("run/checkpoint-2");
        Checkpoint.Save(ck, new Transformer(cfg, GradCheck.Cpu, seed: 1), tok);
        var second = new Transformer(cfg, GradCheck.Cpu, seed: 2);
        Checkpoint.Save(ck, second, tok);
        Assert.That(Checkpoint.LoadModel(ck, GradCheck.Cpu).Named.First().Param.ToArray(),
            Is.EqualTo(second.Named.First().Param.ToArray()));
        Assert.That(Directory.GetDirectories(Dir("run")).Select(Path.GetFileName), Is.EqualTo(new[] { "checkpoint-2" }));

        // A kill between the two renames of the fallback leaves only checkpoint-4.old-*: opening the run puts it back.
        Directory.Move(ck, Dir("run/checkpoint-4.old-0123"));
        Directory.CreateDirectory(Dir("run/final.tmp-4567"));
        using (new RunFolder(Dir("run"))) { }
        Assert.That(Directory.GetDirectories(Dir("run")).Select(Path.GetFileName), Is.EqualTo(new[] { "checkpoint-4" }));
        Assert.That(File.Exists(Dir("run/checkpoint-4/model.safetensors")));
    }

    [Test]
    public void CollapseWarnsOnceWhenAccuracyFallsToZero()
    {
        var watch = new CollapseWatch("grpo", "accuracy");
        double[] accuracy = [0, 0, 0.1, 0.2, 0.3, 0.3, 0.2, 0.1, 0, 0, 0, 0, 0, 0, 0, 0];
        for (int step = 0; step < accuracy.Length; step++)
            watch.Observe(step, new Dictionary<string, object> { ["accuracy"] = accuracy[step] });
        Assert.That(watch.Warnings, Has.Count.EqualTo(1));
        Assert.That(watch.Warnings[0], Does.Contain("accuracy collapsed").And.Contain("steps 8-12"));

        var never = new CollapseWatch("grpo", "accuracy");
        for (int step = 0; step < 20; step++) never.Observe(step, new Dictionary<string, object> { ["accuracy"] = 0.0 });
        Assert.That(never.Warnings, Is.Empty, "a run that never learned has not collapsed");
    }
}
