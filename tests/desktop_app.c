/*
 * A Windows desktop program (WinMain; built for the windows subsystem, and
 * once more for the console one) that starts children through mproc. Each
 * ctest entry runs one case, named by the first argument, and the exit
 * code is the verdict: 0 passed, anything else names what went wrong (a
 * GUI program may have nowhere to print).
 *
 *   spawn      a child reports the program's path into a file and exits 7
 *   no_stdio   run again with no console and no standard handles; there a
 *              child's printf goes nowhere, getchar gives EOF, exit code 0
 *   unicode    copied into a directory named Gr\u00fc\u00dfe and run from
 *              there (also as its working directory): "spawn" works
 *   no_console (console build) without a console, a child gets no console
 *              window (Wine shows no console windows: it cannot fail there)
 *
 * MPROC_TEST_ENTRY=cmdline makes the program (and so its children) enter
 * through mproc_main_cmdline(), anything else through mproc_main_w().
 */
#include <windows.h>
#include <io.h>
#include <shellapi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include <mproc.h>

/* Exit codes of the cases, apart from the child's own 7 and bit masks. */
enum {
    FAIL_MAIN = 60,
    FAIL_SPAWN,
    FAIL_JOIN,
    FAIL_EXITCODE,
    FAIL_REPORT,
    FAIL_SETUP,
    FAIL_USAGE
};

static char *to_utf8(const wchar_t *w)
{
    int n = WideCharToMultiByte(CP_UTF8, 0, w, -1, NULL, 0, NULL, NULL);
    char *s = n > 0 ? malloc((size_t) n) : NULL;
    if (s != NULL)
        WideCharToMultiByte(CP_UTF8, 0, w, -1, s, n, NULL, NULL);
    return s;
}

static wchar_t *to_wide(const char *s)
{
    int n = MultiByteToWideChar(CP_UTF8, 0, s, -1, NULL, 0);
    wchar_t *w = n > 0 ? malloc((size_t) n * sizeof *w) : NULL;
    if (w != NULL)
        MultiByteToWideChar(CP_UTF8, 0, s, -1, w, n);
    return w;
}

static void self_path(wchar_t *buf, DWORD cap)
{
    GetModuleFileNameW(NULL, buf, cap);
}

/* ---- the children's targets ------------------------------------------ */

/* Writes this process's executable path (UTF-8) into the file args[0]. */
static void report_path(const mproc_value_t *args)
{
    wchar_t self[4096], *file;
    char *u;
    FILE *f;
    const char *path = mproc_value_as_str(mproc_value_at(args, 0));
    if (path == NULL || (file = to_wide(path)) == NULL)
        mproc_exit(20);
    self_path(self, 4096);
    u = to_utf8(self);
    f = _wfopen(file, L"wb");
    if (f == NULL || u == NULL)
        mproc_exit(21);
    fputs(u, f);
    if (fclose(f) != 0)
        mproc_exit(22);
    mproc_exit(7);
}
MPROC_TARGET(report_path)

/*
 * A child of a program without standard handles: writing must succeed
 * into nothing and reading must see the end of the input. Each failure
 * sets its own bit of the exit code.
 */
static void use_stdio(const mproc_value_t *args)
{
    int code = 0, c;
    (void) args;
    if (printf("written into nothing\n") < 0)
        code |= 1;
    if (fflush(stdout) != 0)
        code |= 2;
    if (fprintf(stderr, "written into nothing\n") < 0 || fflush(stderr) != 0)
        code |= 4;
    c = getchar();
    if (c != EOF || !feof(stdin))
        code |= 8;
    /*
     * Code that writes through the descriptor or the Win32 handle (another
     * library, a logger) must succeed too: some C libraries' printf
     * reports success on a stream that has no handle at all.
     */
    if (_write(1, "x\n", 2) != 2)
        code |= 16;
    {
        DWORD done = 0;
        HANDLE h = GetStdHandle(STD_ERROR_HANDLE);
        if (h == NULL || h == INVALID_HANDLE_VALUE ||
            !WriteFile(h, "x\n", 2, &done, NULL) || done != 2)
            code |= 32;
    }
    mproc_exit(code);
}
MPROC_TARGET(use_stdio)

/*
 * Exit code 0 if this process has no console (and so no console window),
 * as its parent has none; 3 if it has a window, 4 a console without one.
 */
static void console_window(const mproc_value_t *args)
{
    (void) args;
    if (GetConsoleWindow() != NULL)
        mproc_exit(3);
    mproc_exit(GetConsoleCP() != 0 ? 4 : 0);
}
MPROC_TARGET(console_window)

/* ---- the cases --------------------------------------------------------- */

/* Starts target @fn with @args, waits for it, and returns its exit code. */
static int run_child(mproc_target_fn fn, mproc_value_t *args, int *code)
{
    mproc_process_t *p;
    mproc_process_opts_t o = {0};
    o.fn = fn;
    if (mproc_spawn(&p, &o, args) < 0)
        return FAIL_SPAWN;
    if (mproc_process_join(p, 60) < 0 || mproc_process_exitcode(p, code) < 0)
        return FAIL_JOIN;
    mproc_process_destroy(p);
    return 0;
}

static int case_spawn(void)
{
    wchar_t self[4096], dir[4096], file[4200];
    char want[16384], got[16384], *u, *file_u;
    FILE *f;
    size_t n;
    int code = -1, rc;
    wchar_t *slash;

    self_path(self, 4096);
    wcscpy(dir, self);
    slash = wcsrchr(dir, L'\\');
    if (slash == NULL)
        return FAIL_SETUP;
    *slash = L'\0';
    swprintf(file, 4200, L"%ls\\report-%lu.txt", dir,
             (unsigned long) GetCurrentProcessId());
    file_u = to_utf8(file);
    rc = run_child(report_path, mproc_pack("s", file_u), &code);
    if (rc != 0)
        return rc;
    if (code != 7)
        return FAIL_EXITCODE;
    f = _wfopen(file, L"rb");
    if (f == NULL)
        return FAIL_REPORT;
    n = fread(got, 1, sizeof got - 1, f);
    got[n] = '\0';
    fclose(f);
    DeleteFileW(file);
    u = to_utf8(self);
    snprintf(want, sizeof want, "%s", u);
    free(u);
    free(file_u);
    /* The child is this very program, found under the same path. */
    return strcmp(want, got) == 0 ? 0 : FAIL_REPORT;
}

/* Runs this program again as @cmd in @cwd (NULL: here) with @flags. */
static int run_again(const wchar_t *exe, const wchar_t *args,
                     const wchar_t *cwd, DWORD flags, int no_std)
{
    STARTUPINFOW si;
    PROCESS_INFORMATION pi;
    wchar_t cmd[8192];
    DWORD code;
    memset(&si, 0, sizeof si);
    si.cb = sizeof si;
    if (no_std) {
        /* No standard handles at all, as a program started from Explorer. */
        si.dwFlags = STARTF_USESTDHANDLES;
        si.hStdInput = si.hStdOutput = si.hStdError = NULL;
    }
    swprintf(cmd, 8192, L"\"%ls\" %ls", exe, args);
    if (!CreateProcessW(exe, cmd, NULL, NULL, FALSE, flags, NULL, cwd, &si,
                        &pi))
        return FAIL_SETUP;
    WaitForSingleObject(pi.hProcess, INFINITE);
    GetExitCodeProcess(pi.hProcess, &code);
    CloseHandle(pi.hThread);
    CloseHandle(pi.hProcess);
    return (int) code;
}

static int case_no_stdio(void)
{
    wchar_t self[4096];
    self_path(self, 4096);
    return run_again(self, L"no_stdio_inner", NULL, DETACHED_PROCESS, 1);
}

static int invalid(HANDLE h)
{
    return h == NULL || h == INVALID_HANDLE_VALUE;
}

static int case_no_stdio_inner(void)
{
    int code = -1, rc;
    /* The case is only meaningful if there is really nothing. */
    if (!invalid(GetStdHandle(STD_INPUT_HANDLE)) ||
        !invalid(GetStdHandle(STD_OUTPUT_HANDLE)) ||
        !invalid(GetStdHandle(STD_ERROR_HANDLE)) || GetConsoleWindow() != NULL)
        return FAIL_SETUP;
    rc = run_child(use_stdio, NULL, &code);
    if (rc != 0)
        return rc;
    return code;
}

static int case_unicode(void)
{
    wchar_t self[4096], dir[4096], copy[4200], *slash;
    int code;
    self_path(self, 4096);
    wcscpy(dir, self);
    slash = wcsrchr(dir, L'\\');
    if (slash == NULL)
        return FAIL_SETUP;
    /* "Grüße": outside ASCII, and outside most ANSI code pages' reach. */
    /* One directory per run: the entries of the case may run at once. */
    swprintf(slash, 64, L"\\Gr\u00fc\u00dfe \u0436 %lu",
             (unsigned long) GetCurrentProcessId());
    if (!CreateDirectoryW(dir, NULL) && GetLastError() != ERROR_ALREADY_EXISTS)
        return FAIL_SETUP;
    swprintf(copy, 4200, L"%ls\\%ls", dir, wcsrchr(self, L'\\') + 1);
    if (!CopyFileW(self, copy, FALSE))
        return FAIL_SETUP;
    code = run_again(copy, L"spawn", dir, 0, 0);
    DeleteFileW(copy);
    RemoveDirectoryW(dir);
    return code;
}

static int case_no_console(void)
{
    int code = -1, rc;
    /*
     * A console program that lost its console (or was started without
     * one): a console child would get a new console window of its own.
     */
    FreeConsole();
    rc = run_child(console_window, NULL, &code);
    if (rc != 0)
        return rc;
    return code;
}

int WINAPI WinMain(HINSTANCE inst, HINSTANCE prev, LPSTR cmdline, int show)
{
    const char *entry = getenv("MPROC_TEST_ENTRY");
    wchar_t **argv;
    int argc, rc;
    (void) inst, (void) prev, (void) cmdline, (void) show;

    argv = CommandLineToArgvW(GetCommandLineW(), &argc);
    if (argv == NULL)
        return FAIL_MAIN;
    if (entry != NULL && strcmp(entry, "cmdline") == 0)
        rc = mproc_main_cmdline();
    else
        rc = mproc_main_w(argc, argv);
    if (rc < 0)
        return FAIL_MAIN;
    if (argc < 2)
        return FAIL_USAGE;
    if (wcscmp(argv[1], L"spawn") == 0)
        return case_spawn();
    if (wcscmp(argv[1], L"no_stdio") == 0)
        return case_no_stdio();
    if (wcscmp(argv[1], L"no_stdio_inner") == 0)
        return case_no_stdio_inner();
    if (wcscmp(argv[1], L"unicode") == 0)
        return case_unicode();
    if (wcscmp(argv[1], L"no_console") == 0)
        return case_no_console();
    return FAIL_USAGE;
}
