/* elf_check.c - refuse a damaged or truncated shared object before dlopen
 * maps it: touching a mapped page past the end of a file raises SIGBUS, which
 * would kill --check, --list-plugins or a run inside the dynamic loader. */
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine.h"

#if __ELF_NATIVE_CLASS == 64
#define OUR_CLASS ELFCLASS64
#else
#define OUR_CLASS ELFCLASS32
#endif
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define OUR_DATA ELFDATA2LSB
#else
#define OUR_DATA ELFDATA2MSB
#endif

/* True when the range [off, off + len) lies inside a file of size bytes. */
static bool within(uint64_t off, uint64_t len, uint64_t size)
{
    return off <= size && len <= size - off;
}

/* Checks the ELF header, the program header table and every segment that
 * dlopen maps, and the section header table, against the file size. */
static int check_headers(int fd, uint64_t size, char *why, size_t whylen)
{
    ElfW(Ehdr) eh;
    if (size < sizeof eh || pread(fd, &eh, sizeof eh, 0) != (ssize_t)sizeof eh) {
        snprintf(why, whylen, "%llu bytes, shorter than an ELF header", (unsigned long long)size);
        return -1;
    }
    if (memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0) {
        snprintf(why, whylen, "not an ELF file");
        return -1;
    }
    if (eh.e_ident[EI_CLASS] != OUR_CLASS || eh.e_ident[EI_DATA] != OUR_DATA) {
        snprintf(why, whylen, "ELF class or byte order of another platform");
        return -1;
    }
    if (eh.e_type != ET_DYN) {
        snprintf(why, whylen, "not a shared object (ELF type %u)", (unsigned)eh.e_type);
        return -1;
    }
    if (eh.e_phentsize != sizeof(ElfW(Phdr)) || eh.e_phnum == 0 ||
        !within(eh.e_phoff, (uint64_t)eh.e_phnum * sizeof(ElfW(Phdr)), size)) {
        snprintf(why, whylen, "program header table outside the file's %llu bytes",
                 (unsigned long long)size);
        return -1;
    }
    if (eh.e_shoff && (eh.e_shentsize != sizeof(ElfW(Shdr)) ||
                       !within(eh.e_shoff, (uint64_t)eh.e_shnum * sizeof(ElfW(Shdr)), size))) {
        snprintf(why, whylen, "section header table ends past the file's %llu bytes",
                 (unsigned long long)size);
        return -1;
    }
    for (unsigned i = 0; i < eh.e_phnum; i++) {
        ElfW(Phdr) ph;
        if (pread(fd, &ph, sizeof ph, (off_t)(eh.e_phoff + i * sizeof ph)) != (ssize_t)sizeof ph) {
            snprintf(why, whylen, "cannot read program header %u", i);
            return -1;
        }
        if ((ph.p_type == PT_LOAD || ph.p_type == PT_DYNAMIC) &&
            !within(ph.p_offset, ph.p_filesz, size)) {
            snprintf(why, whylen, "segment %u ends at byte %llu, past the file's %llu bytes", i,
                     (unsigned long long)ph.p_offset + ph.p_filesz, (unsigned long long)size);
            return -1;
        }
    }
    return 0;
}

int sl__elf_check(const char *path, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0; /* dlopen reports what is wrong with the path */
    struct stat st;
    char why[256];
    int rc = 0;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(why, sizeof why, "not a regular file");
        rc = -1;
    } else {
        rc = check_headers(fd, (uint64_t)st.st_size, why, sizeof why);
    }
    close(fd);
    if (rc < 0)
        snprintf(err, errlen, "%s: cannot load: truncated or damaged plugin file (%s)", path, why);
    return rc;
}
