using System.Diagnostics;
using System.Text.Json;
using NUnit.Framework;

namespace Engine.Tests;

/// <summary>The engine binary as a user runs it: exit codes, one-line errors, run folders, checkpoints.</summary>
public class CliTests
{
    /// <summary>`dotnet engine.dll ARGS` with redirected streams, in <paramref name="cwd"/> (default: the current folder).</summary>
    public static ProcessStartInfo StartInfo(string? cwd, params string[] args)
    {
        string dll = Path.Combine(AppContext.BaseDirectory, "engine.dll");
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        if (cwd is not null) psi.WorkingDirectory = cwd;
        psi.ArgumentList.Add(dll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        return psi;
    }

    public static (int Code, string Out, string Err) EngineWithInput(string? stdin, params string[] args) => EngineIn(null, stdin, args);

    public static (int Code, string Out, string Err) EngineIn(string? cwd, string? stdin, params string[] args)
    {
        using var p = Process.Start(StartInfo(cwd, args))!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (stdin is not null) p.StandardInput.Write(stdin);
        p.StandardInput.Close();
        if (!p.WaitForExit(180_000)) { p.Kill(true); Assert.Fail("engine did not finish in 180 s"); }
        return (p.ExitCode, stdout.Result, stderr.Result);
    }

    public static (int Code, string Out, string Err) Engine(params string[] args) => EngineWithInput(null, args);

    /// <summary>Bad input: a non-zero exit and exactly one line on stderr, "engine: error: ..." naming the problem.</summary>
    public static void AssertOneLineError((int Code, string Out, string Err) run, string message)
    {
        Assert.That(run.Code, Is.Not.EqualTo(0));
        var lines = run.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.That(lines, Has.Length.EqualTo(1), run.Err);
        Assert.That(lines[0], Does.StartWith("engine: error:").And.Contain(message));
    }

    string root = "";
    [SetUp] public void MakeRoot() => root = Path.Combine(Path.GetTempPath(), "engine-cli-" + Guid.NewGuid().ToString("N")[..8]);
    [TearDown] public void RemoveRoot() { if (Directory.Exists(root)) Directory.Delete(root, true); }
    string Dir(string name) => Path.Combine(root, name);

    static readonly string[] Micro = ["--model", "micro", "--context", "16", "--batch", "8", "--lr", "1e-2", "--warmup", "10", "--seed", "3"];

    static IEnumerable<JsonElement> Rows(string dir) => File.ReadAllLines(Path.Combine(dir, "metrics.jsonl")).Select(l => JsonDocument.Parse(l).RootElement);

    [Test]
    public void PretrainWritesRunFolderAndCheckpointAndLowersTheLoss()
    {
        var (code, stdout, stderr) = Engine(["pretrain", .. Micro, "--steps", "150", "--eval-every", "50", "--out", Dir("run")]);
        Assert.That(code, Is.EqualTo(0), stderr);
        var rows = Rows(Dir("run")).ToList();
        Assert.That(rows, Has.Count.EqualTo(150));
        foreach (var key in new[] { "step", "loss", "lr", "grad_norm", "tokens_per_s" }) Assert.That(rows[0].TryGetProperty(key, out _), key);
        Assert.That(rows[49].TryGetProperty("eval/loss", out _));
        foreach (var f in new[] { "model.safetensors", "config.json", "tokenizer.json", "optimizer.safetensors", "trainer_state.json" })
            Assert.That(File.Exists(Path.Combine(Dir("run"), "final", f)), f);
        var summary = JsonDocument.Parse(File.ReadAllText(Path.Combine(Dir("run"), "summary.json"))).RootElement;
        float before = summary.GetProperty("eval_loss_before").GetSingle(), after = summary.GetProperty("eval_loss").GetSingle();
        Assert.That(after, Is.LessThan(before - 1f), stdout);
    }

    [Test]
    public void SameSeedGivesTheSameRunAndResumeContinuesItExactly()
    {
        string[] common = ["pretrain", .. Micro, "--steps", "12", "--eval-every", "0", "--save-every", "6"];
        Assert.That(Engine([.. common, "--out", Dir("a")]).Code, Is.EqualTo(0));
        Assert.That(Engine([.. common, "--out", Dir("b")]).Code, Is.EqualTo(0));
        static string[] Losses(string d) => Rows(d).Select(r => r.GetProperty("loss").GetRawText()).ToArray();
        Assert.That(Losses(Dir("b")), Is.EqualTo(Losses(Dir("a"))));

        // Resume run a from its step-6 checkpoint into c: steps 6..11 must repeat a's exactly.
        var (code, _, err) = Engine([.. common, "--out", Dir("c"), "--resume", Path.Combine(Dir("a"), "checkpoint-6")]);
        Assert.That(code, Is.EqualTo(0), err);
        Assert.That(Losses(Dir("c")), Is.EqualTo(Losses(Dir("a"))[6..]));
        Assert.That(Rows(Dir("c")).First().GetProperty("step").GetInt32(), Is.EqualTo(6));
    }

    [Test]
    public void SftThenSampleAndEval()
    {
        Directory.CreateDirectory(root);
        string data = Dir("pairs.jsonl");
        File.WriteAllLines(data, Enumerable.Range(0, 40).Select(i => JsonSerializer.Serialize(new { prompt = $"{i}+1=", completion = $"{i + 1}" })));
        var (code, _, err) = Engine(["sft", .. Micro, "--steps", "30", "--data", data, "--out", Dir("sft")]);
        Assert.That(code, Is.EqualTo(0), err);
        string ckpt = Path.Combine(Dir("sft"), "final");

        (code, var stdout, err) = Engine("sample", "--checkpoint", ckpt, "--prompt", "7+1=", "--num-samples", "2", "--max-new-tokens", "5", "--json", "--seed", "4");
        Assert.That(code, Is.EqualTo(0), err);
        var lines = stdout.Split('\n').Where(l => l.StartsWith("{")).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.That(lines, Has.Count.EqualTo(2));
        Assert.That(lines[0].GetProperty("logprobs").GetArrayLength(), Is.EqualTo(lines[0].GetProperty("ids").GetArrayLength()));
        Assert.That(lines[0].GetProperty("finish_reason").GetString(), Is.AnyOf("eos", "length", "stop"));

        (code, stdout, err) = Engine("eval", "--checkpoint", ckpt, "--data", data, "--json");
        Assert.That(code, Is.EqualTo(0), err);
        var result = JsonDocument.Parse(stdout.Split('\n').Single(l => l.StartsWith("{"))).RootElement;
        Assert.That(result.GetProperty("loss").GetDouble(), Is.GreaterThan(0).And.LessThan(Math.Log(102)));
        Assert.That(result.GetProperty("tokens").GetInt32(), Is.EqualTo(Enumerable.Range(0, 40).Sum(i => $"{i + 1}".Length + 1)), "completion tokens + EOS only");
    }

    [Test]
    public void TokenizePrintsGpt2Ids()
    {
        var (code, stdout, _) = EngineWithInput("Hello world", "tokenize", "--tokenizer", "gpt2");
        Assert.That(code, Is.EqualTo(0));
        Assert.That(stdout.Trim(), Is.EqualTo("[15496,995]"));
        (code, stdout, _) = EngineWithInput("[15496,995]", "tokenize", "--decode");
        Assert.That(stdout, Is.EqualTo("Hello world"));
    }

    [TestCase("pretrain", "--data", "/no/such/file.txt", "no such file")]
    [TestCase("pretrain", "--device", "tpu", "unknown device")]
    [TestCase("pretrain", "--model", "huge", "unknown preset")]
    [TestCase("pretrain", "--steps", "0", ">= 1")]
    [TestCase("sft", "--resume", "/no/such/dir", "no such folder")]
    [TestCase("sample", "--checkpoint", "/no/such/dir", "no such folder")]
    [TestCase("eval", "--checkpoint", "/no/such/dir", "no such file")]
    public void BadInputGivesOneLineAndNonZeroExit(string verb, string flag, string value, string message)
    {
        string[] args = verb switch
        {
            "sample" => [verb, flag, value, "--prompt", "x"],
            "eval" => [verb, flag, value, "--data", "/no/such/file.txt"],
            _ => [verb, flag, value, "--out", Dir("bad")],
        };
        AssertOneLineError(Engine(args), message);
    }

    [Test]
    public void UnknownVerbAndHelp()
    {
        Assert.That(Engine("no-such-verb").Code, Is.Not.EqualTo(0));
        foreach (var verb in new[] { "pretrain", "sft", "sample", "eval" })
        {
            var (code, stdout, _) = Engine(verb, "--help");
            Assert.That(code, Is.EqualTo(0), verb);
            Assert.That(stdout, Does.Contain("--seed").And.Contain("--device").And.Contain("--checkpoint"), verb);
        }
    }

    /// <summary>
    /// Inference-time scaling from the CLI: eval --reward-model reports best-of-j (and maj@j, pass@j) for j = 1, 2, 4
    /// and draws the curves; eval --budgets reports a row per thinking budget whose mean thinking length stays within
    /// it (budget forcing), and draws accuracy against the budget.
    /// </summary>
    [Test]
    public void EvalReportsBestOfAndBudgets()
    {
        string policy = Dir("scale-policy"), rm = Dir("scale-rm");
        Assert.That(Engine(["pretrain", .. Micro, "--steps", "2", "--eval-every", "0", "--out", policy]).Code, Is.Zero);
        var (code, _, err) = Engine("rm", "--checkpoint", Path.Combine(policy, "final"), "--steps", "2", "--pairs", "40",
            "--batch", "4", "--out", rm);
        Assert.That(code, Is.Zero, err);
        string png = Path.Combine(Dir("scale-plot"), "scaling.png");
        Directory.CreateDirectory(Path.GetDirectoryName(png)!);
        string[] eval = ["eval", "--checkpoint", Path.Combine(policy, "final"), "--task", "arithmetic", "--n-problems", "3",
            "--k-samples", "4", "--max-new-tokens", "6", "--json"];
        (code, var stdout, err) = Engine([.. eval, "--reward-model", Path.Combine(rm, "final"), "--plot", png]);
        Assert.That(code, Is.Zero, err);
        var r = JsonDocument.Parse(stdout).RootElement;
        foreach (var key in new[] { "best_of", "maj_at", "pass_at" })
        {
            var keys = r.GetProperty(key).EnumerateObject().Select(p => p.Name).ToArray();
            Assert.That(keys, Is.EqualTo(new[] { "1", "2", "4" }), key);
            Assert.That(r.GetProperty(key).EnumerateObject().All(p => p.Value.GetDouble() is >= 0 and <= 1), key);
        }
        Assert.That(new FileInfo(png).Length, Is.GreaterThan(1000), "the PNG was written");

        (code, stdout, err) = Engine([.. eval, "--budgets", "0,3", "--plot", png]);
        Assert.That(code, Is.Zero, err);
        var rows = JsonDocument.Parse(stdout).RootElement.GetProperty("budgets").EnumerateArray().ToArray();
        Assert.That(rows.Select(x => x.GetProperty("budget").GetInt32()), Is.EqualTo(new[] { 0, 3 }));
        foreach (var row in rows)
            Assert.That(row.GetProperty("mean_think_length").GetDouble(), Is.LessThanOrEqualTo(row.GetProperty("budget").GetInt32()));
        (code, _, err) = Engine([.. eval, "--budgets", "4", "--think-max", "2"]);
        Assert.That(code, Is.Not.Zero);
        Assert.That(err, Does.Contain("engine: error: eval: --budgets sets --think-max per budget"));
    }

    /// <summary>
    /// Thinking on and off: SFT on data that mixes both modes (every other prompt ends in " /no_think" and is answered
    /// directly) teaches a micro model the switch: greedy completions of held-out problems open &lt;think&gt; in every
    /// case with thinking on and in none with it off.
    /// </summary>
    [Test]
    public void SftLearnsTheThinkingSwitch()
    {
        string data = Dir("modes.jsonl"), sft = Dir("modes-sft");
        Assert.That(Engine("data", "--task", "multisum", "--n", "600", "--thinking-modes", "--out", data).Code, Is.Zero);
        string[] lines = File.ReadAllLines(data);
        Assert.That(lines.Count(l => l.Contains(" /no_think") && !l.Contains("<think>")), Is.EqualTo(300), "half off, no thinking");
        var (code, _, err) = Engine("sft", "--data", data, "--model", "micro", "--tokenizer", "char", "--context", "64",
            "--steps", "100", "--batch", "8", "--lr", "3e-3", "--warmup", "10", "--eval-every", "0", "--out", sft);
        Assert.That(code, Is.Zero, err);
        double ThinkRate(string mode)
        {
            var (c, stdout, e) = Engine("eval", "--checkpoint", Path.Combine(sft, "final"), "--task", "multisum", "--n", "12",
                "--k", "1", "--max-new-tokens", "40", "--thinking", mode, "--json");
            Assert.That(c, Is.Zero, e);
            return JsonDocument.Parse(stdout).RootElement.GetProperty("think_rate").GetDouble();
        }
        Assert.That(ThinkRate("on"), Is.EqualTo(1.0), "thinking on: every completion thinks");
        Assert.That(ThinkRate("off"), Is.EqualTo(0.0), "thinking off: no completion contains <think>");
    }
}
