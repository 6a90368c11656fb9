using Engine.Autograd;
using Engine.Checkpoints;
using NUnit.Framework;
using static Engine.Tests.GradCheck;

namespace Engine.Tests;

/// <summary>
/// Logits, loss and every parameter's gradient against PyTorch + Hugging Face transformers, from the
/// fixture tools/reference/make_fixture.py wrote on a GPU machine (where PyTorch lives) into
/// Tests/Fixtures/reference/ (committed). A missing fixture fails the test.
/// </summary>
public class ReferenceTests
{
    static string FixtureDir(string name)
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Engine.sln"))) dir = dir.Parent;
        return Path.Combine(dir?.FullName ?? ".", "Tests", "Fixtures", "reference", name);
    }

    [TestCase("gpt2-tiny")]
    [TestCase("qwen2-tiny")]
    public void MatchesPyTorch(string name)
    {
        string dir = FixtureDir(name);
        if (!File.Exists(Path.Combine(dir, "reference.safetensors")))
            Assert.Fail($"fixture missing: {dir} (tools/reference/make_fixture.py writes it on a machine with PyTorch)");
        var model = Checkpoint.LoadModel(dir, Cpu);
        var reference = SafeTensors.Read(Path.Combine(dir, "reference.safetensors"));
        var idsEntry = reference["input_ids"];
        int B = idsEntry.Shape[0], T = idsEntry.Shape[1], V = model.Config.VocabSize;
        int[] ids = idsEntry.Data.Select(f => (int)f).ToArray();
        int[] targets = new int[B * T];
        for (int b = 0; b < B; b++)
            for (int t = 0; t < T; t++) targets[b * T + t] = t + 1 < T ? ids[b * T + t + 1] : -1;   // HF shifts labels inside

        var logits = model.Forward(ids, B, T);
        var loss = Ops.CrossEntropy(logits, targets);
        loss.Backward();

        AssertClose("logits", logits.ToArray(), reference["logits"].Data, 1e-4);
        AssertClose("loss", [loss.Item()], reference["loss"].Data, 1e-4);
        foreach (var (hfName, (shape, grad)) in Checkpoint.HfGradients(model))
        {
            string key = "grad." + hfName;
            if (!reference.TryGetValue(key, out var expected)) key = "grad.transformer." + hfName;
            Assert.That(reference.ContainsKey(key), $"fixture has no gradient for {hfName}");
            AssertClose(key, grad, reference[key].Data, 1e-3);
        }
    }

    static void AssertClose(string what, float[] actual, float[] expected, double tol)
    {
        Assert.That(actual.Length, Is.EqualTo(expected.Length), what);
        double diff = 0, norm = 0;
        for (int i = 0; i < actual.Length; i++) { diff += Math.Pow(actual[i] - expected[i], 2); norm += Math.Pow(expected[i], 2); }
        double rel = Math.Sqrt(diff) / Math.Max(1e-12, Math.Sqrt(norm));
        Assert.That(rel, Is.LessThan(tol), $"{what}: relative error {rel:E2}");
    }
}
