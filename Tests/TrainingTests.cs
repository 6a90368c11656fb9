using Engine.Data;
using Engine.Tokenizers;
using Engine.Autograd;
using Engine.Training;
using NUnit.Framework;
using static Engine.Tests.GradCheck;

namespace Engine.Tests;

public class TrainingTests
{
    /// <summary>A two-layer MLP fit with AdamW on y = sin(2x₁) + x₂² must cut its loss at least tenfold.</summary>
    [Test]
    public void TwoLayerMlpRegressionLossDropsTenfold()
    {
        var rng = new Random(42);
        int n = 128, hidden = 32;
        float[] xs = Rand(rng, n * 2), ys = new float[n];
        for (int i = 0; i < n; i++) ys[i] = MathF.Sin(2 * xs[2 * i]) + xs[2 * i + 1] * xs[2 * i + 1];
        var x = Tensor.FromArray(Cpu, xs, n, 2);
        var y = Tensor.FromArray(Cpu, ys, n, 1);
        var w1 = Tensor.Parameter(Cpu, Rand(rng, hidden * 2, 0.7f), hidden, 2);
        var b1 = Tensor.Parameter(Cpu, new float[hidden], hidden);
        var w2 = Tensor.Parameter(Cpu, Rand(rng, hidden, 0.17f), 1, hidden);
        var b2 = Tensor.Parameter(Cpu, new float[1], 1);
        var opt = new AdamW([w1, w2], [b1, b2]) { WeightDecay = 0f };

        float Loss()
        {
            var pred = Ops.Linear(Ops.Gelu(Ops.Linear(x, w1, b1)), w2, b2);
            var err = Ops.Add(pred, Ops.Scale(y, -1f));
            var loss = Ops.Mean(Ops.Mul(err, err));
            opt.ZeroGrad();
            loss.Backward();
            return loss.Item();
        }

        float first = Loss();
        float last = first;
        for (int step = 0; step < 400; step++)
        {
            GradClip.ClipGlobalNorm(opt.Parameters, 1f);
            opt.Update(lr: 0.01f);
            last = Loss();
        }
        TestContext.Out.WriteLine($"MLP loss {first:F4} -> {last:F5} ({first / last:F1}x)");
        Assert.That(last, Is.LessThan(first / 10), $"loss went {first} -> {last}");
    }
}

public class LanguageModelTrainingTests
{
    [Test]
    public void AlignedTextWindowsStartAtDocuments()
    {
        // Documents "i+i=2i" separated by EOS: no proper suffix of one is another ("12+12=24" → "2+12=24" is none),
        // so a window opening with a whole document began at a document start.
        var tok = new CharTokenizer();
        var docs = Enumerable.Range(10, 300).Select(i => $"{i}+{i}={2 * i}").ToHashSet();
        var tokens = tok.Encode(string.Concat(docs.Select(d => d + "<|endoftext|>")));
        var aligned = new TextData(tokens, 16, documentEnd: tok.EosId);
        var loose = new TextData(tokens, 16);
        var rng = new Rng(3);
        string First(LmBatch b, int r) => tok.Decode(b.Inputs[(r * 16)..((r + 1) * 16)]).Split("<|endoftext|>")[0];
        var firsts = Enumerable.Range(0, 20).Select(_ => aligned.Sample(rng, 4)).SelectMany(b => Enumerable.Range(0, 4).Select(r => First(b, r))).ToList();
        Assert.That(firsts, Has.All.Matches<string>(docs.Contains), "every window opens with a whole document");
        var looseFirsts = Enumerable.Range(0, 20).Select(_ => loose.Sample(rng, 4)).SelectMany(b => Enumerable.Range(0, 4).Select(r => First(b, r)));
        Assert.That(looseFirsts.Any(f => !docs.Contains(f)), "without alignment windows open mid-document (so the check above can fail)");
        Assert.That(aligned.WindowStarts, Is.LessThan(loose.WindowStarts));
        Assert.Throws<ArgumentException>(() => new TextData(tok.Encode(new string('7', 400)), 16, documentEnd: tok.EosId));
    }

    [Test]
    public void SftLossIgnoresWhatTheModelPredictsForPromptTokens()
    {
        var tok = new Engine.Tokenizers.CharTokenizer();
        var data = new Engine.Data.SftData([("12+30=", "42"), ("7-2=", "5"), ("1+1=", "2")], tok, context: 32, valFraction: 0.34);
        var ex = new[] { Engine.Data.SftData.Encode(tok, "12+30=", "42"), Engine.Data.SftData.Encode(tok, "7-2=", "5") };
        var batch = Engine.Data.SftData.Build(ex, tok.PadId, 32);
        // Rows: "12+30=42<eos>" → 8 steps; targets are only "4","2",EOS (row 0) and "5",EOS (row 1).
        Assert.That(batch.CountedTokens, Is.EqualTo(3 + 2));
        var rng = new Random(5);
        int V = tok.VocabSize;
        float[] logits = Rand(rng, batch.Batch * batch.Steps * V, 3f);
        float Loss(float[] l) => Cpu.CrossEntropy(FromHost(l), batch.Targets, null, batch.Batch * batch.Steps, V);
        float before = Loss(logits);
        var changed = (float[])logits.Clone();
        for (int row = 0; row < batch.Batch * batch.Steps; row++)
            if (batch.Targets[row] < 0)
                for (int v = 0; v < V; v++) changed[row * V + v] = (float)rng.NextDouble() * 10;   // prompt and padding rows
        Assert.That(Loss(changed), Is.EqualTo(before), "rows that predict prompt tokens carry no loss");
        changed[(5 * V) + 7] += 5f;   // row 0, step 5 predicts the first completion token "4"
        Assert.That(Loss(changed), Is.Not.EqualTo(before));
        Assert.That(data.Count, Is.EqualTo(3));
    }

    static Engine.Kernels.DeviceBuffer FromHost(float[] x)
    {
        var b = Cpu.Allocate(x.Length);
        b.CopyFrom(x);
        return b;
    }

    [Test]
    public void TinyModelMemorisesASmallText()
    {
        string dir = Path.Combine(Path.GetTempPath(), "engine-mem-" + Guid.NewGuid().ToString("N")[..8]);
        try
        {
            var tok = new Engine.Tokenizers.CharTokenizer();
            string text = string.Concat(Enumerable.Repeat("the cat sat on the mat. ", 30));
            var cfg = Engine.Model.ModelConfig.Preset("micro", tok.VocabSize, maxPositions: 24);
            var model = new Engine.Model.Transformer(cfg, Cpu, seed: 1);
            var opt = new AdamW(model.Parameters.Where(p => p.Shape.Length == 2), model.Parameters.Where(p => p.Shape.Length != 2)) { WeightDecay = 0f };
            var data = new Engine.Data.TextData(tok.Encode(text), cfg.MaxPositions);
            var o = new LmTrainOptions
            {
                Steps = 120, Batch = 8, Schedule = new LrSchedule(1e-2f, 10, 120), EvalBatches = 4, LogEvery = 1000, Out = dir,
                Kind = "memorise",
            };
            var r = LmTrainer.Train(model, tok, opt, data, new Rng(1), o);
            TestContext.Out.WriteLine($"held-out loss {r.EvalLossBefore:F3} -> {r.EvalLoss:F4}");
            Assert.That(r.EvalLoss, Is.LessThan(0.1f), "a repeated sentence should be memorised");
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, true); }
    }

    [Test]
    public void GradientAccumulationMatchesOneBigBatch()
    {
        // Two micro-batches of 4 with loss/2 each give the gradient of the mean over both (equal token counts).
        var tok = new Engine.Tokenizers.CharTokenizer();
        var cfg = Engine.Model.ModelConfig.Preset("micro", tok.VocabSize, maxPositions: 8);
        var model = new Engine.Model.Transformer(cfg, Cpu, seed: 2);
        var data = new Engine.Data.TextData(tok.Encode(Engine.Data.ArithmeticText.Generate(200, 1)), 8);
        var big = data.Sample(new Rng(3), 8);
        var p = model.Embed;
        Engine.Autograd.Ops.CrossEntropy(model.Forward(big.Inputs, 8, 8), big.Targets).Backward();
        var once = p.Grad!.ToArray();
        p.ZeroGrad();
        for (int half = 0; half < 2; half++)
        {
            int n = 4 * 8;
            var x = big.Inputs[(half * n)..((half + 1) * n)];
            var y = big.Targets[(half * n)..((half + 1) * n)];
            Engine.Autograd.Ops.Scale(Engine.Autograd.Ops.CrossEntropy(model.Forward(x, 4, 8), y), 0.5f).Backward();
        }
        Assert.That(p.Grad!.ToArray(), Is.EqualTo(once).Within(1e-6f));
    }
}
