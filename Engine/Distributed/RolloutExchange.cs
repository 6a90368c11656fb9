using System.Runtime.InteropServices;
using Engine.Generation;

namespace Engine.Distributed;

/// <summary>
/// Gathers what the ranks sampled, so that every rank holds the step's whole batch in rank order, as one process
/// would have sampled it: then scores, group advantages and metrics are computed the same on every rank, and only
/// the forward and backward passes are split. A few thousand tokens a step: small next to the model's work.
/// </summary>
public static class RolloutExchange
{
    public static List<Completion> AllGather(Communicator comm, IReadOnlyList<Completion> mine, string what)
    {
        using var buffer = new MemoryStream();
        using (var w = new BinaryWriter(buffer, System.Text.Encoding.UTF8, leaveOpen: true))
        {
            w.Write(mine.Count);
            foreach (var c in mine)
            {
                Ints(w, c.PromptIds);
                Ints(w, c.Ids);
                w.Write(c.Logprobs.Length);
                foreach (float x in c.Logprobs) w.Write(x);
                w.Write(c.Text);
                w.Write(c.FinishReason);
            }
        }
        var all = new List<Completion>();
        foreach (var part in comm.AllGather(buffer.ToArray(), what))
        {
            using var r = new BinaryReader(new MemoryStream(part), System.Text.Encoding.UTF8);
            int n = r.ReadInt32();
            for (int k = 0; k < n; k++)
            {
                int[] prompt = ReadInts(r), ids = ReadInts(r);
                var logprobs = new float[r.ReadInt32()];
                for (int i = 0; i < logprobs.Length; i++) logprobs[i] = r.ReadSingle();
                all.Add(new Completion(prompt, ids, logprobs, r.ReadString(), r.ReadString()));
            }
        }
        return all;
    }

    /// <summary>Every rank's floats (any count), concatenated in rank order.</summary>
    public static float[] AllGather(Communicator comm, float[] mine, string what) =>
        comm.AllGather(MemoryMarshal.AsBytes(mine.AsSpan()).ToArray(), what)
            .SelectMany(part => MemoryMarshal.Cast<byte, float>(part).ToArray()).ToArray();

    static void Ints(BinaryWriter w, int[] x)
    {
        w.Write(x.Length);
        foreach (int v in x) w.Write(v);
    }

    static int[] ReadInts(BinaryReader r)
    {
        var x = new int[r.ReadInt32()];
        for (int i = 0; i < x.Length; i++) x[i] = r.ReadInt32();
        return x;
    }
}
