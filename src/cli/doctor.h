#ifndef DOCTOR_H
#define DOCTOR_H

/*
 * doctor(role, user): print this process's capability sets decoded, the
 * Landlock ABI and seccomp state, then check what ${role} ("reader",
 * "writer", "restorer") needs here for ${user} (NULL: none given): file
 * capabilities and mode of the role binary, pam_cap and capability.conf,
 * and (reader) an actual read of a root-only file with the backup's
 * privilege.  Each problem comes with the commands that fix it.  Returns
 * the exit status: 0 no problem, 1 problems found.
 */
int doctor(const char *role, const char *user);

#endif
