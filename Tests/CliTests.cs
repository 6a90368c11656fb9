using System.Diagnostics;
using System.Text.Json;
using NUnit.Framework;

namespace Engine.Tests;

/// <summary>The engine binary as a user runs it: exit codes, one-line errors, the run folder.</summary>
public class CliTests
{
    static (int Code, string Out, string Err) Engine(params string[] args)
    {
        string dll = Path.Combine(AppContext.BaseDirectory, "engine.dll");
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(dll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(120_000)) { p.Kill(true); Assert.Fail("engine did not finish in 120 s"); }
        return (p.ExitCode, stdout.Result, stderr.Result);
    }

    static string TempDir() => Path.Combine(Path.GetTempPath(), "engine-test-" + Guid.NewGuid().ToString("N")[..8]);

    [Test]
    public void PretrainWritesMetricsAndSummaryAndLowersTheLoss()
    {
        string dir = TempDir();
        try
        {
            var (code, stdout, stderr) = Engine("pretrain", "--steps", "150", "--layers", "1", "--channels", "32", "--heads", "2",
                "--context", "16", "--batch", "8", "--lr", "1e-2", "--warmup", "10", "--seed", "3", "--out", dir);
            Assert.That(code, Is.EqualTo(0), stderr);
            var lines = File.ReadAllLines(Path.Combine(dir, "metrics.jsonl"));
            Assert.That(lines, Has.Length.EqualTo(150));
            var first = JsonDocument.Parse(lines[0]).RootElement;
            Assert.That(first.GetProperty("step").GetInt32(), Is.EqualTo(0));
            foreach (var key in new[] { "loss", "lr", "grad_norm", "tokens_per_s" }) Assert.That(first.TryGetProperty(key, out _), key);
            var summary = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "summary.json"))).RootElement;
            float before = summary.GetProperty("val_loss_before").GetSingle(), after = summary.GetProperty("val_loss").GetSingle();
            Assert.That(after, Is.LessThan(before - 0.3f), stdout);
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, true); }
    }

    [Test]
    public void SameSeedGivesTheSameRun()
    {
        string a = TempDir(), b = TempDir();
        try
        {
            string[] common = ["pretrain", "--steps", "6", "--layers", "1", "--channels", "32", "--heads", "2", "--context", "16", "--batch", "4", "--seed", "11"];
            Assert.That(Engine([.. common, "--out", a]).Code, Is.EqualTo(0));
            Assert.That(Engine([.. common, "--out", b]).Code, Is.EqualTo(0));
            static IEnumerable<string> Losses(string dir) =>
                File.ReadAllLines(Path.Combine(dir, "metrics.jsonl")).Select(l => JsonDocument.Parse(l).RootElement.GetProperty("loss").GetRawText());
            Assert.That(Losses(b), Is.EqualTo(Losses(a)));
        }
        finally
        {
            foreach (var d in new[] { a, b }) if (Directory.Exists(d)) Directory.Delete(d, true);
        }
    }

    [TestCase("--data", "/no/such/file.txt", "no such file")]
    [TestCase("--device", "tpu", "unknown device")]
    [TestCase("--channels", "30", "multiple of --heads")]
    [TestCase("--steps", "0", ">= 1")]
    public void BadInputGivesOneLineAndNonZeroExit(string flag, string value, string message)
    {
        var (code, _, stderr) = Engine("pretrain", flag, value, "--out", TempDir());
        Assert.That(code, Is.Not.EqualTo(0));
        var lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.That(lines, Has.Length.EqualTo(1), stderr);
        Assert.That(lines[0], Does.StartWith("engine: error:").And.Contain(message));
    }

    [Test]
    public void UnknownVerbAndHelp()
    {
        Assert.That(Engine("no-such-verb").Code, Is.Not.EqualTo(0));
        var (code, _, err) = Engine("pretrain", "--help");
        Assert.That(code, Is.EqualTo(0));
        Assert.That(err, Does.Contain("--steps").And.Contain("--seed").And.Contain("--device"));
    }
}
