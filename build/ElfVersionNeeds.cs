// One source file, two users:
//  * the build (build/TorchSharpNativeFix.targets compiles it with RoslynCodeTaskFactory) patches the copy of
//    libLibTorchSharp.so in each build output so Debian 12's older libstdc++ can load it;
//  * the GestaltLab library compiles it with GESTALTLAB_LIBRARY defined, to explain a failed load at start-up
//    and in `gestaltlab doctor`.
// Why the patch is safe: see docs/torchsharp-native.md. TorchSharp 0.107's native shim references
// GLIBCXX_3.4.32 only for std::ios_base_library_init, a link-order marker nothing calls. Marking that version
// requirement weak (VER_FLG_WEAK) turns the loader's hard error into a warning.
#nullable enable
using System;
using System.Collections.Generic;
using System.IO;
using System.Text;

#if GESTALTLAB_LIBRARY
namespace GestaltLab.Runtime
#else
namespace GestaltLab.Build
#endif
{
    /// <summary>One symbol-version requirement (an ELF <c>Vernaux</c> entry) of a shared library.</summary>
#if GESTALTLAB_LIBRARY
    public
#else
    internal
#endif
    sealed class ElfVersionNeed
    {
        // A plain class, not a record: the build compiles this file for netstandard2.0 (RoslynCodeTaskFactory).
        /// <summary>Creates an entry.</summary>
        public ElfVersionNeed(string library, string version, bool isWeak, long flagsOffset)
        {
            Library = library; Version = version; IsWeak = isWeak; FlagsOffset = flagsOffset;
        }
        /// <summary>The needed library.</summary>
        public string Library { get; }
        /// <summary>The version name.</summary>
        public string Version { get; }
        /// <summary>Whether the requirement is weak.</summary>
        public bool IsWeak { get; }
        /// <summary>File offset of <c>vna_flags</c>.</summary>
        public long FlagsOffset { get; }
    }

    /// <summary>Reads and patches the version-requirement table (<c>.gnu.version_r</c>) of 64-bit little-endian ELF files.</summary>
#if GESTALTLAB_LIBRARY
    public
#else
    internal
#endif
    static class ElfVersionNeeds
    {
        private const uint ShtGnuVerneed = 0x6ffffffe;
        private const ushort VerFlgWeak = 0x2;

        /// <summary>The libstdc++ the dynamic loader would pick on a Debian/Ubuntu/Fedora-style system, or null.</summary>
        public static string? FindSystemLibStdCxx()
        {
            string[] candidates =
            {
                "/usr/lib/x86_64-linux-gnu/libstdc++.so.6", "/lib/x86_64-linux-gnu/libstdc++.so.6",
                "/usr/lib/aarch64-linux-gnu/libstdc++.so.6", "/usr/lib64/libstdc++.so.6", "/usr/lib/libstdc++.so.6",
            };
            foreach (var c in candidates)
                if (File.Exists(c)) return c;
            return null;
        }

        /// <summary>Lists every version requirement in the ELF file's <c>.gnu.version_r</c> section.</summary>
        /// <exception cref="InvalidDataException">The bytes are not a 64-bit little-endian ELF file.</exception>
        public static List<ElfVersionNeed> Read(byte[] elf, string nameForErrors)
        {
            if (elf.Length < 64 || elf[0] != 0x7f || elf[1] != (byte)'E' || elf[2] != (byte)'L' || elf[3] != (byte)'F')
                throw new InvalidDataException($"{nameForErrors}: not an ELF file");
            if (elf[4] != 2 || elf[5] != 1)
                throw new InvalidDataException($"{nameForErrors}: only 64-bit little-endian ELF is supported");
            long shoff = (long)U64(elf, 0x28);
            int shentsize = U16(elf, 0x3A), shnum = U16(elf, 0x3C);
            var result = new List<ElfVersionNeed>();
            for (int i = 0; i < shnum; i++)
            {
                long sh = shoff + (long)i * shentsize;
                if (sh + 64 > elf.Length) throw new InvalidDataException($"{nameForErrors}: section table is truncated");
                if (U32(elf, sh + 4) != ShtGnuVerneed) continue;
                long offset = (long)U64(elf, sh + 24);
                uint link = U32(elf, sh + 40), count = U32(elf, sh + 44);
                long strtab = (long)U64(elf, shoff + (long)link * shentsize + 24);
                long vn = offset;
                for (uint n = 0; n < count; n++)
                {
                    int cnt = U16(elf, vn + 2);
                    string file = CString(elf, strtab + U32(elf, vn + 4));
                    long aux = vn + U32(elf, vn + 8);
                    for (int a = 0; a < cnt; a++)
                    {
                        ushort flags = U16(elf, aux + 4);
                        string name = CString(elf, strtab + U32(elf, aux + 8));
                        result.Add(new ElfVersionNeed(file, name, (flags & VerFlgWeak) != 0, aux + 4));
                        aux += U32(elf, aux + 12);
                    }
                    uint next = U32(elf, vn + 12);
                    if (next == 0) break;
                    vn += next;
                }
            }
            return result;
        }

        /// <summary>Whether a shared library defines the given symbol version (its name appears as a string in the file).</summary>
        public static bool Defines(byte[] library, string version)
        {
            byte[] needle = Encoding.ASCII.GetBytes("\0" + version + "\0");
            for (int i = 0; i + needle.Length <= library.Length; i++)
            {
                int j = 0;
                while (j < needle.Length && library[i + j] == needle[j]) j++;
                if (j == needle.Length) return true;
            }
            return false;
        }

        /// <summary>The requirements on <paramref name="libraryName"/> that <paramref name="systemLibrary"/> does not define and that are not weak.</summary>
        public static List<ElfVersionNeed> MissingHardRequirements(byte[] elf, string nameForErrors, string libraryName, byte[] systemLibrary)
        {
            var missing = new List<ElfVersionNeed>();
            foreach (var need in Read(elf, nameForErrors))
                if (need.Library == libraryName && !need.IsWeak && !Defines(systemLibrary, need.Version))
                    missing.Add(need);
            return missing;
        }

        /// <summary>
        /// Marks as weak every libstdc++ version requirement of <paramref name="path"/> that the system libstdc++ lacks.
        /// The file is rewritten through a temporary file and a rename, so a hard link into the NuGet cache is never
        /// modified. Returns the versions that were weakened (empty when nothing needed doing).
        /// </summary>
        public static List<string> WeakenMissingLibStdCxx(string path, string systemLibStdCxx)
        {
            byte[] elf = File.ReadAllBytes(path);
            var missing = MissingHardRequirements(elf, path, "libstdc++.so.6", File.ReadAllBytes(systemLibStdCxx));
            var names = new List<string>();
            if (missing.Count == 0) return names;
            foreach (var need in missing)
            {
                ushort flags = (ushort)(U16(elf, need.FlagsOffset) | VerFlgWeak);
                elf[need.FlagsOffset] = (byte)flags;
                elf[need.FlagsOffset + 1] = (byte)(flags >> 8);
                names.Add(need.Version);
            }
            string temp = path + ".gestaltlab-tmp";
            File.WriteAllBytes(temp, elf);
            if (File.Exists(path)) File.Delete(path);
            File.Move(temp, path);
            return names;
        }

        private static ushort U16(byte[] b, long o) => (ushort)(b[o] | b[o + 1] << 8);
        private static uint U32(byte[] b, long o) => (uint)(b[o] | b[o + 1] << 8 | b[o + 2] << 16 | b[o + 3] << 24);
        private static ulong U64(byte[] b, long o) => U32(b, o) | (ulong)U32(b, o + 4) << 32;

        private static string CString(byte[] b, long o)
        {
            long end = o;
            while (end < b.Length && b[end] != 0) end++;
            return Encoding.ASCII.GetString(b, (int)o, (int)(end - o));
        }
    }

#if !GESTALTLAB_LIBRARY
    /// <summary>MSBuild task: weakens missing GLIBCXX requirements in the build-output copies of native libraries.</summary>
    public sealed class WeakenMissingGlibcxxVersions : Microsoft.Build.Utilities.Task
    {
        /// <summary>The native libraries to check, in the build or publish output.</summary>
        [Microsoft.Build.Framework.Required]
        public Microsoft.Build.Framework.ITaskItem[] Files { get; set; } = Array.Empty<Microsoft.Build.Framework.ITaskItem>();

        /// <inheritdoc />
        public override bool Execute()
        {
            string? system = ElfVersionNeeds.FindSystemLibStdCxx();
            if (system is null)
            {
                Log.LogMessage(Microsoft.Build.Framework.MessageImportance.Low, "GestaltLab: no system libstdc++ found; native libraries left as they are.");
                return true;
            }
            foreach (var item in Files)
            {
                string path = item.ItemSpec;
                try
                {
                    var weakened = ElfVersionNeeds.WeakenMissingLibStdCxx(path, system);
                    if (weakened.Count > 0)
                        Log.LogMessage(Microsoft.Build.Framework.MessageImportance.High,
                            $"GestaltLab: {system} lacks {string.Join(", ", weakened)}; marked weak in {path} (see docs/torchsharp-native.md).");
                }
                catch (Exception e) when (e is IOException || e is InvalidDataException || e is UnauthorizedAccessException)
                {
                    Log.LogError($"GestaltLab: could not patch {path}: {e.Message}");
                }
            }
            return !Log.HasLoggedErrors;
        }
    }
#endif
}
