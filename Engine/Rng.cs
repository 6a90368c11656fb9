namespace Engine;

/// <summary>
/// The engine's random numbers: xoshiro256** seeded through SplitMix64. Unlike System.Random its
/// state is four numbers that a checkpoint can save and restore, so a resumed run draws exactly
/// what an uninterrupted one would have.
/// </summary>
public sealed class Rng
{
    ulong s0, s1, s2, s3;

    public Rng(long seed)
    {
        ulong x = (ulong)seed;
        s0 = SplitMix(ref x); s1 = SplitMix(ref x); s2 = SplitMix(ref x); s3 = SplitMix(ref x);
    }

    static ulong SplitMix(ref ulong x)
    {
        ulong z = x += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    public ulong NextULong()
    {
        ulong result = ulong.RotateLeft(s1 * 5, 7) * 9;
        ulong t = s1 << 17;
        s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3; s2 ^= t;
        s3 = ulong.RotateLeft(s3, 45);
        return result;
    }

    /// <summary>Uniform in [0, 1) with 53 random bits.</summary>
    public double NextDouble() => (NextULong() >> 11) * (1.0 / (1UL << 53));

    /// <summary>Uniform integer in [0, max).</summary>
    public int Next(int max)
    {
        if (max <= 0) throw new ArgumentOutOfRangeException(nameof(max), $"rng: max must be positive, got {max}");
        return (int)(NextDouble() * max);
    }

    public int Next(int min, int max) => min + Next(max - min);

    /// <summary>Standard normal (Box–Muller).</summary>
    public double Normal()
    {
        double u1 = 1.0 - NextDouble(), u2 = NextDouble();
        return Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
    }

    /// <summary>Fisher–Yates shuffle in place.</summary>
    public void Shuffle<T>(IList<T> items)
    {
        for (int i = items.Count - 1; i > 0; i--)
        {
            int j = Next(i + 1);
            (items[i], items[j]) = (items[j], items[i]);
        }
    }

    /// <summary>The state as text ("s0:s1:s2:s3", hex), for checkpoints.</summary>
    public string State
    {
        get => $"{s0:x16}:{s1:x16}:{s2:x16}:{s3:x16}";
        set
        {
            var parts = value.Split(':');
            if (parts.Length != 4) throw new InvalidDataException($"rng: state '{value}' is not four hex numbers");
            s0 = Convert.ToUInt64(parts[0], 16); s1 = Convert.ToUInt64(parts[1], 16);
            s2 = Convert.ToUInt64(parts[2], 16); s3 = Convert.ToUInt64(parts[3], 16);
        }
    }
}
